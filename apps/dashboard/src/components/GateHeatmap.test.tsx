import { fireEvent, render, screen, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { GateHeatmap } from './GateHeatmap.js';

/** Relative luminance of an `rgb(r, g, b)` colour: smaller is darker. */
function luminance(colour: string): number {
  const [r, g, b] = colour.match(/\d+/g)!.map(Number);
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

test('one cell per (token, adapter), darker for larger gates, each with its value in a tooltip', () => {
  const tokens = ['m', 'i', 'x', ' '];
  const gates = [
    [0.9, 0.1],
    [0.6, 0.4],
    [0.25, 0.75],
    [0.5, 0.5],
  ];
  render(<GateHeatmap tokens={tokens} adapters={['recipes', 'weather']} gates={gates} promptTokens={3} />);
  const heatmap = screen.getByTestId('gate-heatmap');
  const cells = within(heatmap).getAllByRole('cell');
  expect(cells).toHaveLength(tokens.length * 2);

  // Rows are adapters, columns tokens: the recipes row holds column 0 of every token's gates.
  const recipesRow = within(heatmap).getByRole('rowheader', { name: 'recipes' }).closest('tr')!;
  expect(
    within(recipesRow)
      .getAllByRole('cell')
      .map((cell) => Number(cell.dataset.gate)),
  ).toEqual([0.9, 0.6, 0.25, 0.5]);

  const byGate = [...cells].sort((a, b) => Number(a.dataset.gate) - Number(b.dataset.gate));
  const lightness = byGate.map((cell) => luminance(cell.style.backgroundColor));
  for (let i = 1; i < lightness.length; i++) expect(lightness[i]).toBeLessThanOrEqual(lightness[i - 1]!);
  expect(lightness[0]).toBeGreaterThan(lightness.at(-1)!);

  expect(within(heatmap).getByTitle('"x" → weather: 0.750')).toBeTruthy();
  expect(within(heatmap).getByRole('columnheader', { name: /␣/ })).toBeTruthy();
  expect(within(heatmap).getByLabelText('Gate colour scale from 0 to 1')).toBeTruthy();
});

test('hovering a token or moving along them with the arrow keys names its gates, the top adapter first', () => {
  const tokens = ['a', 'b', 'c'];
  const gates = [
    [0.2, 0.8],
    [0.7, 0.3],
    [0.5, 0.5],
  ];
  render(<GateHeatmap tokens={tokens} adapters={['recipes', 'weather']} gates={gates} />);
  const detail = screen.getByTestId('gate-detail');
  fireEvent.mouseEnter(screen.getByRole('columnheader', { name: 'a' }));
  expect(detail.textContent).toBe('"a" (token 1 of 3): top weather 0.800, recipes 0.200');
  const grid = screen.getByRole('region', { name: /Gate grid/ });
  fireEvent.keyDown(grid, { key: 'ArrowRight' });
  expect(detail.textContent).toBe('"b" (token 2 of 3): top recipes 0.700, weather 0.300');
  fireEvent.keyDown(grid, { key: 'End' });
  expect(detail.textContent).toMatch(/^"c" \(token 3 of 3\)/);
  fireEvent.keyDown(grid, { key: 'ArrowRight' });
  expect(detail.textContent).toMatch(/^"c" \(token 3 of 3\)/);
  fireEvent.keyDown(grid, { key: 'Home' });
  expect(detail.textContent).toMatch(/^"a" \(token 1 of 3\)/);
  expect(grid.tabIndex).toBe(0);
});
