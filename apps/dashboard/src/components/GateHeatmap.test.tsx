import { render, screen, within } from '@testing-library/react';
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
