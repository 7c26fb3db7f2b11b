/** How one request picks its next token. temperature 0 = greedy. */
export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** Subtracted once from the logit of every token the completion already holds (OpenAI's presence_penalty). */
  presencePenalty?: number;
  /** Subtracted from a token's logit per time the completion holds it (OpenAI's frequency_penalty). */
  frequencyPenalty?: number;
  /** Added to the logits of the token ids given (OpenAI's logit_bias; ±100 bans or forces a token). */
  logitBias?: Readonly<Record<number, number>>;
}

/**
 * The logits after the penalties and biases, as OpenAI defines them: for token j,
 * logit[j] − count[j]·frequency − (count[j] > 0)·presence + bias[j], where count[j] is how often
 * the completion so far (`generated`) holds j. The logits given are returned when nothing applies.
 */
export function adjustLogits(logits: Float32Array, params: SamplingParams, generated: readonly number[]): Float32Array {
  const presence = params.presencePenalty ?? 0;
  const frequency = params.frequencyPenalty ?? 0;
  const bias = Object.entries(params.logitBias ?? {});
  if (!bias.length && ((!presence && !frequency) || !generated.length)) return logits;
  const adjusted = Float32Array.from(logits);
  if (presence || frequency) {
    const counts = new Map<number, number>();
    for (const token of generated) counts.set(token, (counts.get(token) ?? 0) + 1);
    for (const [token, count] of counts) adjusted[token]! -= count * frequency + presence;
  }
  for (const [token, value] of bias) adjusted[Number(token)]! += value;
  return adjusted;
}

/**
 * Picks a token from one row of logits, after the penalties for what the completion already
 * holds (`generated`) and the biases. Ties go to the lowest id, so greedy is deterministic.
 */
export function sampleToken(
  rawLogits: Float32Array,
  params: SamplingParams,
  random: () => number,
  generated: readonly number[] = [],
): number {
  const logits = adjustLogits(rawLogits, params, generated);
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

/** A generated token's log-probability under the model, and the most likely alternatives'. */
export interface TokenLogprob {
  token: number;
  logprob: number;
  /** The `top` most likely tokens at that step, most likely first (ties to the lowest id). */
  top: { token: number; logprob: number }[];
}

/**
 * log softmax(logits)[token] and the `top` largest entries: the model's own distribution, before
 * temperature, penalties and biases (what scoring the same text computes).
 */
export function tokenLogprob(logits: Float32Array, token: number, top: number): TokenLogprob {
  let max = -Infinity;
  for (const value of logits) max = Math.max(max, value);
  let sum = 0;
  for (const value of logits) sum += Math.exp(value - max);
  const logZ = max + Math.log(sum);
  const best =
    top > 0
      ? Array.from(logits.keys())
          .sort((a, b) => logits[b]! - logits[a]! || a - b)
          .slice(0, top)
      : [];
  return {
    token,
    logprob: logits[token]! - logZ,
    top: best.map((id) => ({ token: id, logprob: logits[id]! - logZ })),
  };
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
