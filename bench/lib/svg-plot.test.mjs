// SVG charts: well-formed XML (a strict parser reads them), the series, guides and ticks
// asked for, and the load sweep's curves drawn from a results section.
// Run: node --test bench/lib/*.test.mjs
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SaxesParser } from 'saxes';
import { loadCurves } from './load-curves.mjs';
import { axis, figure } from './svg-plot.mjs';

/** Every element of a document (name and attributes), or the parser's error for one that is not well-formed. */
function elements(xml) {
  const parser = new SaxesParser({ xmlns: true });
  const found = [];
  parser.on('opentag', (tag) =>
    found.push({
      name: tag.local,
      attributes: Object.fromEntries(Object.values(tag.attributes).map((a) => [a.local, a.value])),
    }),
  );
  parser.write(xml).close();
  return found;
}

const seriesNames = (xml) =>
  elements(xml)
    .filter((e) => e.attributes.class === 'series')
    .map((e) => e.attributes['data-name']);
const guides = (xml) => elements(xml).filter((e) => e.attributes.class === 'guide');

describe('figure', () => {
  const chart = {
    title: 'TTFT <p99> & friends',
    x: { label: 'rate' },
    y: { label: 'seconds', log: true },
    series: [
      {
        name: 'p50',
        points: [
          [1, 0.05],
          [2, 0.08],
          [3, 2.5],
        ],
      },
      {
        name: 'p99 "tail"',
        points: [
          [1, 0.1],
          [2, null],
          [3, 0],
          [4, 12],
        ],
        dashed: true,
      },
    ],
    guides: [{ y: 1, label: 'SLO 1 s' }],
  };
  const svg = figure('Load & latency', [chart, { ...chart, y: { label: 'seconds' }, guides: [] }]);

  it('is a well-formed SVG document with one panel per chart', () => {
    const found = elements(svg);
    assert.equal(found[0].name, 'svg');
    assert.equal(found.filter((e) => e.name === 'svg').length, 3);
  });

  it('draws each series, escaping its name, and each guide', () => {
    assert.deepEqual(seriesNames(svg), ['p50', 'p99 "tail"', 'p50', 'p99 "tail"']);
    assert.equal(guides(svg).length, 1);
    assert.match(svg, /TTFT &lt;p99&gt; &amp; friends/);
  });

  it('leaves out points a log axis cannot show, and missing ones', () => {
    const polylines = elements(svg).filter((e) => e.name === 'polyline');
    assert.deepEqual(
      polylines.map((p) => p.attributes.points.split(' ').length),
      [3, 2, 3, 3],
    );
  });

  it('fails to parse when not well-formed (the check can fail)', () => {
    assert.throws(() => elements(svg.replace('</svg>', '')));
  });
});

describe('axis', () => {
  it('linear: 1-2-5 steps from 0 covering the values, ends on the pixel range', () => {
    const { ticks, at } = axis([0.4, 7.3], false, 100, 300, { fromZero: true });
    assert.deepEqual(ticks, [0, 2, 4, 6, 8]);
    assert.equal(at(0), 100);
    assert.equal(at(8), 300);
  });

  it('log: decades with their 2s and 5s', () => {
    const { ticks, at } = axis([0.012, 3], true, 0, 300);
    assert.deepEqual(ticks, [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]);
    assert.equal(at(0.01), 0);
    assert.equal(at(10), 300);
    assert.equal(at(0.1), 100);
  });

  it('one value: a range around it', () => {
    assert.deepEqual(axis([3], false, 0, 1).ticks, [3, 3.2, 3.4, 3.6, 3.8, 4]);
    assert.deepEqual(axis([1], true, 0, 1).ticks, [1, 2, 5, 10]);
  });
});

describe('loadCurves', () => {
  const point = (rate, latency) => ({
    rate,
    throughput_rps: Math.min(rate, 4),
    goodput_rps: Math.min(rate, 3),
    ttft_p50_s: latency,
    ttft_p99_s: latency * 4,
    itl_p50_s: latency / 10,
    itl_p99_s: latency / 2,
  });
  const level = (name) => ({
    model: { name },
    adapters: { count: 256, zipf_s: 1.1 },
    slo: { ttft_s: 1, itl_p99_s: 0.1 },
    saturation: { closed_loop_rps: 4 },
    points: [point(1, 0.05), point(2, 0.08), point(4, 0.6), point(6, 9)],
  });
  const curves = loadCurves({ engine: level('llama-d512-l8'), gateway: level('tessera-demo') });

  it('draws one figure per level', () =>
    assert.deepEqual(Object.keys(curves), ['serving-load-engine.svg', 'serving-load-gateway.svg']));

  it('plots throughput, goodput and the offered rate, then TTFT and ITL at p50 and p99, with the SLO bounds', () => {
    for (const svg of Object.values(curves)) {
      assert.deepEqual(seriesNames(svg), ['completed', 'goodput (met SLO)', 'offered', 'p50', 'p99', 'p50', 'p99']);
      assert.equal(guides(svg).length, 3);
      assert.match(svg, /SLO 1 s/);
    }
  });
});
