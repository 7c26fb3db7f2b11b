// Serving (issue 19): how the engine serves at the hardware's limit. Each section is a lib
// module returning its figures, composed here into bench/results/serving.json:
//   speed — the serving path before issue 19 (an engine built from git) and now, at the
//           TinyLlama-1.1B shape: decode steps at batch 1 and 32, prefill, 32 adapters batched vs
//           one at a time, and the prefix cache's TTFT on a shared 512-token prompt (lib/serving-speed.mjs);
//   load — latency under open-loop load at the engine and through the gateway (lib/load-sweep.mjs),
//          its curves drawn from the JSON into bench/results/serving-load-<level>.svg.
// SERVING_LOAD_QUICK=1 (or BENCH_QUICK=1): a smoke run, written to a temporary folder.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { machine } from './lib/engine-common.mjs';
import { loadCurves } from './lib/load-curves.mjs';
import { loadSweep, loadSweepOptions, printLoadTable } from './lib/load-sweep.mjs';
import { printServingSpeed, servingSpeedFigures } from './lib/serving-speed.mjs';

export default async function servingBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const load = loadSweepOptions(process.env);
  const results = { machine: machine(engine, 'cpu') };
  if (process.env.SERVING_SKIP_SPEED !== '1') {
    Object.assign(
      results,
      await servingSpeedFigures(engine, {
        executionProvider: 'cpu',
        quick: load.quick || process.env.SERVING_SPEED_QUICK === '1',
      }),
    );
    printServingSpeed(results);
  }
  if (process.env.SERVING_SKIP_LOAD !== '1') {
    Object.assign(results, await loadSweep(engine, load));
    printLoadTable(results.load);
  }

  // A smoke run keeps the committed figures.
  const dir = load.quick
    ? mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-serving-smoke-'))
    : path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'serving.json');
  const previous = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify(mergeResults(previous, results), null, 2) + '\n');
  step(`written to ${file}`);
  // The curves come from the file, so they always show what it holds.
  const written = JSON.parse(readFileSync(file, 'utf8'));
  for (const [name, svg] of Object.entries(written.load ? loadCurves(written.load) : {})) {
    writeFileSync(path.join(dir, name), svg);
    step(`curves written to ${path.join(dir, name)}`);
  }
}

/** What this run measured over what the file held: a level (SERVING_LOAD_LEVELS) or section this run skipped stays. */
function mergeResults(previous, results) {
  return { ...previous, ...results, load: { ...previous.load, ...results.load } };
}
