// The load sweep's curves, drawn from serving.json's `load` section: per level one figure of
// three panels against the offered rate — throughput and goodput (with the offered rate
// itself as the line a server keeping up follows), TTFT p50/p99 and ITL p50/p99 (log scale:
// past saturation they grow by orders of magnitude), each latency panel with its SLO bound.
import { figure } from './svg-plot.mjs';

const RATE_AXIS = { label: 'offered rate (requests/s)' };

/** { 'serving-load-<level>.svg': svg text } for each level in `load`. */
export function loadCurves(load) {
  return Object.fromEntries(
    Object.entries(load).map(([level, sweep]) => [`serving-load-${level}.svg`, levelFigure(level, sweep)]),
  );
}

function levelFigure(level, sweep) {
  const along = (key) => sweep.points.map((p) => [p.rate, p[key]]);
  const title = `Latency under load, ${level}: ${sweep.model.name}, ${sweep.adapters.count} adapters (Zipf s=${sweep.adapters.zipf_s})`;
  return figure(title, [
    {
      title: 'Throughput',
      x: RATE_AXIS,
      y: { label: 'requests/s' },
      series: [
        { name: 'completed', points: along('throughput_rps') },
        { name: 'goodput (met SLO)', points: along('goodput_rps') },
        { name: 'offered', points: sweep.points.map((p) => [p.rate, p.rate]), dashed: true, colour: '#888' },
      ],
      guides: [{ y: sweep.saturation.closed_loop_rps, label: 'closed-loop saturation' }],
    },
    {
      title: 'Time to first token',
      x: RATE_AXIS,
      y: { label: 'seconds', log: true },
      series: [
        { name: 'p50', points: along('ttft_p50_s') },
        { name: 'p99', points: along('ttft_p99_s'), dashed: true },
      ],
      guides: [{ y: sweep.slo.ttft_s, label: `SLO ${sweep.slo.ttft_s} s` }],
    },
    {
      title: 'Inter-token latency',
      x: RATE_AXIS,
      y: { label: 'seconds', log: true },
      series: [
        { name: 'p50', points: along('itl_p50_s') },
        { name: 'p99', points: along('itl_p99_s'), dashed: true },
      ],
      guides: [{ y: sweep.slo.itl_p99_s, label: `SLO (per-request p99) ${sweep.slo.itl_p99_s} s` }],
    },
  ]);
}
