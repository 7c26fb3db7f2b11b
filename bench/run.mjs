// `npm run bench -- <name>`: the project's benchmarks. Each measures its subject side by
// side with a baseline in one run and reports ratios; results go to bench/results/<name>.json.
const benchmarks = {
  gateway: () => import('./gateway.bench.mjs'),
  engine: () => import('./engine.bench.mjs'),
  training: () => import('./training.bench.mjs'),
  jobs: () => import('./jobs.bench.mjs'),
  inference: () => import('./inference.bench.mjs'),
  adapterswap: () => import('./adapterswap.bench.mjs'),
  serving: () => import('./serving.bench.mjs'),
  dashboard: () => import('./dashboard.bench.mjs'),
  structured: () => import('./structured.bench.mjs'),
  soak: () => import('./soak.bench.mjs'),
  placement: () => import('./placement.bench.mjs'),
};

const name = process.argv[2];
if (!name || !benchmarks[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(benchmarks).join('|')}>`);
  process.exit(2);
}
await (await benchmarks[name]()).default();
