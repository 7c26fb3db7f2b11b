import {
  layerPrefix,
  parseProjectionKey,
  projectionShape,
  targetModules,
  type DecoderConfig,
  type TargetModule,
} from '../model/decoder-config.js';

/** One adapted projection's low-rank factors, as the engine computes with them: x·A·B. */
export interface LoraFactors {
  /** [dIn, r] */
  a: Float32Array;
  /** [r, dOut] */
  b: Float32Array;
}

/** A LoRA adapter in memory (unscaled: α/r is applied when it enters a slot). */
export interface LoraAdapter {
  rank: number;
  alpha: number;
  targetModules: TargetModule[];
  /** Factors by projection key: `h.<layer>.<module>` (GPT-2), `layers.<layer>.<module>` (Llama). */
  factors: Map<string, LoraFactors>;
  /**
   * Router vectors [dIn] by projection key, for an adapter serving as a member of a learned
   * gate (token routing). Without them a slot routes by the adapter's Arrow prototype.
   */
  routers?: Map<string, Float32Array>;
}

/**
 * Checks an adapter against the base model it will run on and lists every mismatch,
 * so an upload can be refused with one clear message.
 */
export function adapterMismatches(adapter: LoraAdapter, config: DecoderConfig): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(adapter.rank) || adapter.rank < 1)
    problems.push(`rank ${adapter.rank} is not a positive integer`);
  const prefix = layerPrefix(config);
  const modules = targetModules(config);
  for (const [key, { a, b }] of adapter.factors) {
    const parsed = parseProjectionKey(key);
    const module = parsed?.module as TargetModule | undefined;
    if (!parsed || parsed.prefix !== prefix || !module || !modules.includes(module)) {
      problems.push(
        `${key}: not a projection of this ${config.architecture} model (expected ${prefix}.<layer>.<${modules.join('|')}>)`,
      );
      continue;
    }
    const layer = parsed.layer;
    if (layer >= config.nLayers)
      problems.push(`${key}: layer ${layer} does not exist (the base model has ${config.nLayers})`);
    const [dIn, dOut] = projectionShape(config, module);
    if (a.length !== dIn * adapter.rank)
      problems.push(`${key}: lora_A holds ${a.length} values, expected ${adapter.rank}×${dIn}`);
    if (b.length !== adapter.rank * dOut)
      problems.push(`${key}: lora_B holds ${b.length} values, expected ${dOut}×${adapter.rank}`);
  }
  if (adapter.factors.size === 0) problems.push('the adapter has no LoRA tensors');
  return problems;
}
