// Line charts as SVG text, enough for benchmark curves: axes with ticks and labels, one
// polyline with markers per series, a legend, and horizontal guides (an SLO bound). Linear or
// log axes. No dependency: a chart is a string, a figure is charts placed side by side.
// The legend sits top left: benchmark curves (throughput, latency against load) rise to the right.

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const GUIDE_COLOUR = '#888';
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 };
/** Text attributes at `size` px. */
const font = (size = 11) => `font-family="sans-serif" font-size="${size}"`;

/**
 * chart: { title, x: axis, y: axis, series: [{ name, points: [[x, y]], dashed?, colour? }], guides?: [{ y, label }] }
 * with axis { label, log?, zero? } (a linear axis starts at 0 unless zero is false). Points
 * whose coordinates are null (or not positive on a log axis) are left out.
 * Returns an <svg> element `width`×`height` placed at (x, y) in its parent (a figure's).
 */
export function lineChart(chart, { width = 420, height = 300, x: left = 0, y: top = 0 } = {}) {
  const series = chart.series.map((s, i) => ({
    ...s,
    colour: s.colour ?? PALETTE[i % PALETTE.length],
    points: s.points.filter(([px, py]) => drawable(px, chart.x.log) && drawable(py, chart.y.log)),
  }));
  const guides = (chart.guides ?? []).filter((g) => drawable(g.y, chart.y.log));
  const xs = series.flatMap((s) => s.points.map(([px]) => px));
  const ys = [...series.flatMap((s) => s.points.map(([, py]) => py)), ...guides.map((g) => g.y)];
  const plot = {
    left: MARGIN.left,
    right: width - MARGIN.right,
    top: MARGIN.top,
    bottom: height - MARGIN.bottom,
  };
  const xAxis = axis(xs, chart.x.log, plot.left, plot.right, { fromZero: chart.x.zero !== false });
  // y grows upwards: its range runs from the plot's bottom to its top.
  const yAxis = axis(ys, chart.y.log, plot.bottom, plot.top, { fromZero: chart.y.zero !== false });
  const parts = [
    `<svg x="${left}" y="${top}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" ${font(13)} font-weight="bold">${escape(chart.title)}</text>`,
    ...xAxis.ticks.map(
      (t) =>
        `<line x1="${xAxis.at(t)}" y1="${plot.top}" x2="${xAxis.at(t)}" y2="${plot.bottom}" stroke="#eee"/>` +
        `<text x="${xAxis.at(t)}" y="${plot.bottom + 16}" text-anchor="middle" ${font()}>${tickLabel(t)}</text>`,
    ),
    ...yAxis.ticks.map(
      (t) =>
        `<line x1="${plot.left}" y1="${yAxis.at(t)}" x2="${plot.right}" y2="${yAxis.at(t)}" stroke="#eee"/>` +
        `<text x="${plot.left - 6}" y="${yAxis.at(t) + 4}" text-anchor="end" ${font()}>${tickLabel(t)}</text>`,
    ),
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="black"/>`,
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="black"/>`,
    `<text x="${(plot.left + plot.right) / 2}" y="${height - 10}" text-anchor="middle" ${font()}>${escape(axisTitle(chart.x))}</text>`,
    `<text transform="translate(14 ${(plot.top + plot.bottom) / 2}) rotate(-90)" text-anchor="middle" ${font()}>${escape(axisTitle(chart.y))}</text>`,
    ...guides.map(
      (g) =>
        `<line class="guide" x1="${plot.left}" y1="${yAxis.at(g.y)}" x2="${plot.right}" y2="${yAxis.at(g.y)}" stroke="${GUIDE_COLOUR}" stroke-dasharray="2 3"/>` +
        `<text x="${plot.right - 2}" y="${yAxis.at(g.y) - 4}" text-anchor="end" ${font()} fill="${GUIDE_COLOUR}">${escape(g.label)}</text>`,
    ),
    ...series.map((s) => {
      const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
      const coordinates = s.points.map(([px, py]) => `${fixed(xAxis.at(px))},${fixed(yAxis.at(py))}`);
      const markers = s.points.map(
        ([px, py]) => `<circle cx="${fixed(xAxis.at(px))}" cy="${fixed(yAxis.at(py))}" r="2.5" fill="${s.colour}"/>`,
      );
      return (
        `<g class="series" data-name="${escape(s.name)}">` +
        `<polyline points="${coordinates.join(' ')}" fill="none" stroke="${s.colour}" stroke-width="1.5"${dash}/>` +
        `${markers.join('')}</g>`
      );
    }),
    legend(series, plot),
    '</svg>',
  ];
  return parts.join('\n');
}

/** Charts side by side in `columns`, under a title: one standalone SVG document. */
export function figure(title, charts, { columns = charts.length, width = 420, height = 300 } = {}) {
  const rows = Math.ceil(charts.length / columns);
  const header = 28;
  const total = { width: columns * width, height: header + rows * height };
  const placed = charts.map((chart, i) =>
    lineChart(chart, { width, height, x: (i % columns) * width, y: header + Math.floor(i / columns) * height }),
  );
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${total.width}" height="${total.height}" viewBox="0 0 ${total.width} ${total.height}">`,
    `<rect x="0" y="0" width="${total.width}" height="${total.height}" fill="white"/>`,
    `<text x="${total.width / 2}" y="20" text-anchor="middle" ${font(15)} font-weight="bold">${escape(title)}</text>`,
    ...placed,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * An axis over `values` mapped onto pixels `from`..`to`: { at(value) → pixel, ticks }.
 * Linear: 1-2-5 steps, from 0 when asked; log: whole decades and their 2s and 5s.
 */
export function axis(values, log, from, to, { fromZero = false } = {}) {
  const finite = values.length ? values : [log ? 1 : 0, 1];
  let low = Math.min(...finite);
  let high = Math.max(...finite);
  if (log) {
    const [lo, hi] = [Math.floor(Math.log10(low)), Math.ceil(Math.log10(high))];
    const span = hi > lo ? [lo, hi] : [lo, lo + 1];
    const ticks = [];
    for (let e = span[0]; e <= span[1]; e++)
      for (const m of [1, 2, 5])
        if (m * 10 ** e >= 10 ** span[0] && m * 10 ** e <= 10 ** span[1]) ticks.push(m * 10 ** e);
    const at = (v) => from + ((Math.log10(v) - span[0]) / (span[1] - span[0])) * (to - from);
    return { at, ticks: ticks.map((t) => Number(t.toPrecision(6))) };
  }
  if (fromZero) low = Math.min(0, low);
  if (high === low) high = low + 1;
  const step = niceStep((high - low) / 5);
  low = Math.floor(low / step) * step;
  high = Math.ceil(high / step) * step;
  const ticks = [];
  for (let t = low; t <= high + step / 2; t += step) ticks.push(Number(t.toPrecision(6)));
  const at = (v) => from + ((v - low) / (high - low)) * (to - from);
  return { at, ticks };
}

/** The 1, 2 or 5 × 10^k at or above `raw`. */
function niceStep(raw) {
  const decade = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * decade).find((step) => step >= raw);
}

function legend(series, plot) {
  if (!series.length) return '';
  const rowHeight = 14;
  const width = 12 + Math.max(...series.map((s) => s.name.length)) * 6.2 + 28;
  const x = plot.left + 4;
  const rows = series.map((s, i) => {
    const y = plot.top + 6 + i * rowHeight;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    return (
      `<line x1="${fixed(x + 6)}" y1="${y + 4}" x2="${fixed(x + 28)}" y2="${y + 4}" stroke="${s.colour}" stroke-width="1.5"${dash}/>` +
      `<text x="${fixed(x + 32)}" y="${y + 8}" ${font()}>${escape(s.name)}</text>`
    );
  });
  return [
    `<g class="legend"><rect x="${fixed(x)}" y="${plot.top + 2}" width="${fixed(width)}" height="${series.length * rowHeight + 6}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    ...rows,
    '</g>',
  ].join('');
}

function axisTitle({ label, log }) {
  return log ? `${label} (log scale)` : label;
}

function drawable(value, log) {
  return typeof value === 'number' && Number.isFinite(value) && (!log || value > 0);
}

function tickLabel(value) {
  if (value !== 0 && (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3)) return value.toExponential(0);
  return String(value);
}

function fixed(pixel) {
  return Math.round(pixel * 10) / 10;
}

/** Text as XML character data or an attribute value. */
function escape(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}
