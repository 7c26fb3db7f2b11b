// Random weights made on demand, one tensor per call: what a checkpoint's WeightReader
// returns, without a billion-parameter model ever held in memory (the writer asks for one
// tensor at a time). Serving speed does not depend on what the weights say.

/** Standard deviation of every matrix and bias: GPT-2's and Llama's initializer range. */
const WEIGHT_STD = 0.02;

/** A WeightReader over seeded random weights: norms' scales 1, LayerNorm shifts 0, the rest uniform with std 0.02. */
export function randomWeightReader(engine, config, seed) {
  const shapes = engine.weightShapes(config);
  return async (name) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`random weights: the config has no tensor ${name}`);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/(^|\.)(ln_\w+|\w*norm)\.weight$/.test(name)) return values.fill(1);
    if (/(^|\.)ln_\w+\.bias$/.test(name)) return values;
    fillUniform(values, (seed ^ nameHash(name)) >>> 0, WEIGHT_STD * Math.sqrt(3));
    return values;
  };
}

/** Every parameter the model holds once (a tied head is the embedding, not counted twice). */
export function parameterCount(engine, config) {
  let count = 0;
  for (const shape of engine.weightShapes(config).values()) count += shape.reduce((a, b) => a * b, 1);
  return count;
}

/** A rank-`rank` adapter on `modules` with seeded uniform factors (±0.05): one distinct, repeatable adapter per seed. */
export function randomAdapter(engine, config, modules, rank, seed) {
  const factors = new Map();
  for (let layer = 0; layer < config.nLayers; layer++) {
    modules.forEach((module, m) => {
      const [dIn, dOut] = engine.projectionShape(config, module);
      const at = seed * 1_000_003 + layer * 31 + m;
      factors.set(engine.projectionKey(config, layer, module), {
        a: fillUniform(new Float32Array(dIn * rank), at, 0.05),
        b: fillUniform(new Float32Array(rank * dOut), at + 17, 0.05),
      });
    });
  }
  return { rank, alpha: rank, targetModules: [...modules], factors };
}

/**
 * xorshift32 written out in the loop: a 233M-value embedding table fills in about a second,
 * where a closure call per value would take several.
 */
export function fillUniform(values, seed, halfWidth) {
  let x = seed | 0 || 1;
  const scale = (2 * halfWidth) / 4294967296;
  for (let i = 0; i < values.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    values[i] = (x >>> 0) * scale - halfWidth;
  }
  return values;
}

/** FNV-1a: a distinct, repeatable stream per tensor name. */
function nameHash(name) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
