import { render, screen } from '@testing-library/react';
import { expect, test } from 'vitest';
import { LineChart } from './LineChart.js';

const pointsOf = (path: Element) => (path.getAttribute('d') ?? '').match(/[ML]/g)?.length ?? 0;

test('one path per series, each with a point per datum, and a legend entry per series', () => {
  render(
    <LineChart
      title="Loss"
      xLabel="step"
      yLabel="loss"
      testId="chart"
      series={[
        { name: 'train', points: [1, 2, 3, 4, 5].map((x) => ({ x, y: 3 - x * 0.1 })) },
        {
          name: 'validation',
          points: [
            { x: 2, y: 2.9 },
            { x: 4, y: 2.7 },
          ],
        },
      ]}
    />,
  );
  const paths = screen.getByTestId('chart').querySelectorAll('path.series');
  expect(paths).toHaveLength(2);
  expect(paths[0]!.getAttribute('data-series')).toBe('train');
  expect(pointsOf(paths[0]!)).toBe(5);
  expect(pointsOf(paths[1]!)).toBe(2);
  expect(screen.getByRole('img', { name: 'Loss' })).toBeTruthy();
  expect(screen.getAllByRole('listitem').map((item) => item.textContent?.trim())).toEqual(['train', 'validation']);
});

test('with no points it draws no lines and says so', () => {
  render(
    <LineChart title="Loss" xLabel="step" yLabel="loss" testId="chart" series={[{ name: 'train', points: [] }]} />,
  );
  expect(screen.getByTestId('chart').querySelectorAll('path.series')).toHaveLength(0);
  expect(screen.getByText('No data yet')).toBeTruthy();
});
