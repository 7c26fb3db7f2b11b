import { formatNumber } from '../format.js';
import './BarChart.css';

export interface BarRow {
  label: string;
  /** One value per segment, in the order of `segments`; stacked left to right. */
  values: number[];
}

const PALETTE = ['#3b5bdb', '#91a7ff', '#e8590c', '#ffc078'];
const ROW_HEIGHT = 28;
const LABEL_WIDTH = 160;
const VALUE_WIDTH = 80;

/** Horizontal bars, one row per item, scaled to the largest total; segments stack within a row. */
export function BarChart({
  title,
  rows,
  segments,
  width = 640,
  testId,
}: {
  title: string;
  rows: ReadonlyArray<BarRow>;
  segments: string[];
  width?: number;
  testId?: string;
}) {
  const totals = rows.map((row) => row.values.reduce((sum, value) => sum + value, 0));
  const largest = Math.max(1, ...totals);
  const barSpace = width - LABEL_WIDTH - VALUE_WIDTH;
  const height = Math.max(1, rows.length) * ROW_HEIGHT + 8;
  return (
    <figure className="bar-chart" data-testid={testId}>
      <svg role="img" aria-label={title} viewBox={`0 0 ${width} ${height}`} width="100%">
        {rows.map((row, i) => {
          let x = LABEL_WIDTH;
          return (
            <g
              key={row.label}
              className="bar-row"
              data-label={row.label}
              transform={`translate(0 ${i * ROW_HEIGHT + 4})`}
            >
              <text x={LABEL_WIDTH - 8} y={ROW_HEIGHT / 2 + 4} textAnchor="end" className="bar-label">
                {row.label.length > 22 ? `${row.label.slice(0, 21)}…` : row.label}
              </text>
              {row.values.map((value, j) => {
                const barWidth = (value / largest) * barSpace;
                const rect = (
                  <rect
                    key={segments[j]}
                    className="bar-segment"
                    x={x}
                    y={4}
                    width={barWidth}
                    height={ROW_HEIGHT - 8}
                    fill={PALETTE[j % PALETTE.length]}
                  >
                    <title>{`${row.label} · ${segments[j]}: ${formatNumber(value)}`}</title>
                  </rect>
                );
                x += barWidth;
                return rect;
              })}
              <text x={x + 6} y={ROW_HEIGHT / 2 + 4} className="bar-value">
                {formatNumber(totals[i])}
              </text>
            </g>
          );
        })}
      </svg>
      {segments.length > 1 ? (
        <ul className="legend">
          {segments.map((segment, j) => (
            <li key={segment}>
              <span className="swatch" style={{ background: PALETTE[j % PALETTE.length] }} /> {segment}
            </li>
          ))}
        </ul>
      ) : null}
    </figure>
  );
}
