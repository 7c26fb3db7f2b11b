/** How one request picks its next token. temperature 0 = greedy. */
export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
}

/** Picks a token from one row of logits. Ties go to the lowest id, so greedy is deterministic. */
export function sampleToken(logits: Float32Array, params: SamplingParams, random: () => number): number {
  const temperature = params.temperature ?? 0;
  if (temperature <= 0) return argmax(logits);
  // Candidates sorted by logit, cut by top-k, then softmax at the temperature, then top-p.
  let order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (params.topK && params.topK > 0) order = order.slice(0, params.topK);
  const max = logits[order[0]!]!;
  const weights = order.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let kept = order.length;
  if (params.topP !== undefined && params.topP < 1) {
    let mass = 0;
    kept = 0;
    while (kept < order.length && mass < params.topP * total) mass += weights[kept++]!;
  }
  const keptTotal = weights.slice(0, kept).reduce((a, b) => a + b, 0);
  let r = random() * keptTotal;
  for (let i = 0; i < kept; i++) {
    r -= weights[i]!;
    if (r <= 0) return order[i]!;
  }
  return order[kept - 1]!;
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
