/** Named parameter or gradient tensors, flat Float32Arrays in a fixed order. */
export type TensorSet = Map<string, Float32Array>;

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0 };

/**
 * AdamW (Loshchilov & Hutter): Adam moments with bias correction, weight decay applied to
 * the weights directly rather than through the gradient. Plain loops over Float32Arrays in a
 * fixed order, so a run is bitwise reproducible; state is exposed for checkpoints.
 */
export class AdamW {
  readonly m: TensorSet = new Map();
  readonly v: TensorSet = new Map();
  step = 0;

  constructor(readonly settings: AdamWSettings = ADAMW_DEFAULTS) {}

  update(params: TensorSet, grads: TensorSet, learningRate: number): void {
    this.step++;
    const { beta1, beta2, epsilon, weightDecay } = this.settings;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new Error(`AdamW: no gradient for ${name}`);
      const m = this.moment(this.m, name, p.length);
      const v = this.moment(this.v, name, p.length);
      for (let i = 0; i < p.length; i++) {
        m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
        v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
        const update = m[i]! / correction1 / (Math.sqrt(v[i]! / correction2) + epsilon);
        p[i] = p[i]! - learningRate * (update + weightDecay * p[i]!);
      }
    }
  }

  private moment(set: TensorSet, name: string, length: number): Float32Array {
    let moment = set.get(name);
    if (!moment) set.set(name, (moment = new Float32Array(length)));
    return moment;
  }
}

/** Scales all gradients together so their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradients(grads: TensorSet, maxNorm: number): number {
  let sum = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
  const norm = Math.sqrt(sum);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i]! *= scale;
  }
  return norm;
}

/**
 * The learning rate of optimizer step `step` (0-based), as transformers' cosine schedules
 * give it (get_cosine_schedule_with_warmup, and cosine_with_min_lr for `minRatio`): the
 * Trainer's first optimizer step reads lr_lambda(0), so warmup climbs as step / warmupSteps
 * and the first step of a warmup has rate 0 (its gradient still moves AdamW's moments).
 * Then a half cosine from the peak towards minRatio·peak, which step `totalSteps` would reach.
 */
export function learningRateAt(
  step: number,
  schedule: { peak: number; warmupSteps: number; totalSteps: number; minRatio?: number },
): number {
  const { peak, warmupSteps, totalSteps } = schedule;
  const minRatio = schedule.minRatio ?? 0;
  if (step < warmupSteps) return (peak * step) / Math.max(1, warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return peak * Math.max(0, cosine * (1 - minRatio) + minRatio);
}
