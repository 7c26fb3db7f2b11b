import { niceTicks } from './nice-ticks.js';
import './LineChart.css';

export interface LineSeries {
  name: string;
  points: ReadonlyArray<{ x: number; y: number }>;
  color?: string;
  dashed?: boolean;
}

const PALETTE = ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9', '#1098ad'];
const MARGIN = { top: 12, right: 16, bottom: 40, left: 56 };

/** Lines over a shared x and y axis, with ticks, axis titles and a legend; one <path> per series. */
export function LineChart({
  title,
  series,
  xLabel,
  yLabel,
  width = 640,
  height = 260,
  testId,
}: {
  title: string;
  series: ReadonlyArray<LineSeries>;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
  testId?: string;
}) {
  const points = series.flatMap((s) => s.points);
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const [xMin, xMax] = extent(
    points.map((p) => p.x),
    0,
  );
  const [yMin, yMax] = extent(
    points.map((p) => p.y),
    0.05,
  );
  const scaleX = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const scaleY = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotHeight;
  const colorOf = (i: number) => series[i]!.color ?? PALETTE[i % PALETTE.length]!;

  return (
    <figure className="line-chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <svg
        role="img"
        aria-label={title}
        viewBox={`0 0 ${width} ${height}`}
        width="100%"
        preserveAspectRatio="xMidYMid meet"
      >
        <g className="axis">
          <line
            x1={MARGIN.left}
            y1={MARGIN.top + plotHeight}
            x2={MARGIN.left + plotWidth}
            y2={MARGIN.top + plotHeight}
          />
          <line x1={MARGIN.left} y1={MARGIN.top} x2={MARGIN.left} y2={MARGIN.top + plotHeight} />
          {points.length > 0 &&
            niceTicks(xMin, xMax, 6).map((tick) => (
              <text key={`x${tick}`} x={scaleX(tick)} y={MARGIN.top + plotHeight + 16} textAnchor="middle">
                {tick}
              </text>
            ))}
          {points.length > 0 &&
            niceTicks(yMin, yMax, 5).map((tick) => (
              <g key={`y${tick}`}>
                <line
                  className="grid"
                  x1={MARGIN.left}
                  y1={scaleY(tick)}
                  x2={MARGIN.left + plotWidth}
                  y2={scaleY(tick)}
                />
                <text x={MARGIN.left - 6} y={scaleY(tick) + 4} textAnchor="end">
                  {tick}
                </text>
              </g>
            ))}
          <text className="axis-title" x={MARGIN.left + plotWidth / 2} y={height - 6} textAnchor="middle">
            {xLabel}
          </text>
          <text
            className="axis-title"
            transform={`translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)`}
            textAnchor="middle"
          >
            {yLabel}
          </text>
        </g>
        {points.length === 0 ? (
          <text className="empty" x={MARGIN.left + plotWidth / 2} y={MARGIN.top + plotHeight / 2} textAnchor="middle">
            No data yet
          </text>
        ) : null}
        {series.map((s, i) =>
          s.points.length === 0 ? null : (
            <g key={s.name}>
              <path
                className="series"
                data-series={s.name}
                d={s.points
                  .map((p, j) => `${j === 0 ? 'M' : 'L'}${scaleX(p.x).toFixed(1)},${scaleY(p.y).toFixed(1)}`)
                  .join(' ')}
                stroke={colorOf(i)}
                strokeDasharray={s.dashed ? '5 4' : undefined}
              />
              {/* The newest point, so a single point (the first step of a run) is visible too. */}
              <circle cx={scaleX(s.points.at(-1)!.x)} cy={scaleY(s.points.at(-1)!.y)} r={3} fill={colorOf(i)} />
            </g>
          ),
        )}
      </svg>
      <ul className="legend">
        {series.map((s, i) => (
          <li key={s.name}>
            <span className="swatch" style={{ background: colorOf(i) }} /> {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

/** [min, max] of the values, padded by `padding` of the range; never an empty range (scales divide by it). */
function extent(values: number[], padding: number): [number, number] {
  if (values.length === 0) return [0, 1];
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) return [min - 1, max + 1];
  const pad = (max - min) * padding;
  min -= pad;
  max += pad;
  return [min, max];
}
