import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  shardReader,
  WeightFile,
  weightFileBytes,
  writeWeightFile,
  type DecoderConfig,
  type ShardSource,
  type WeightPrecision,
} from '@tessera/engine';

/** A base model too large for this worker at its precision: said before any work starts. */
export class ModelDoesNotFit extends Error {}

/** Bytes in the unit a reader takes in at a glance. */
function size(bytes: number): string {
  const [unit, scale] = bytes >= 2 ** 30 ? ['GiB', 2 ** 30] : bytes >= 2 ** 20 ? ['MiB', 2 ** 20] : ['KiB', 2 ** 10];
  return `${(bytes / (scale as number)).toFixed(2)} ${unit as string}`;
}

/**
 * Memory this process may still fill: the smaller of the kernel's MemAvailable (os.freemem)
 * and what the container's cgroup limit leaves.
 */
export function availableMemory(): number {
  let available = os.freemem();
  try {
    const max = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    const current = Number(readFileSync('/sys/fs/cgroup/memory.current', 'utf8').trim());
    if (max !== 'max') available = Math.min(available, Number(max) - current);
  } catch {
    // No cgroup v2 memory controller: the host's figure stands.
  }
  return available;
}

/**
 * A base model's weight file in `cacheDir`, written once (streamed from its shards, one
 * tensor at a time) and reused by every later load, in this process or the next.
 * Sessions map it, so the weights count once per machine's page cache whatever reads them.
 */
export async function cachedWeightFile(options: {
  cacheDir: string;
  /** The base model's id, for messages. */
  modelId: string;
  /** The folder name for this model's files: what identifies its weights (the caller's content hash). */
  contentKey: string;
  config: DecoderConfig;
  shards: () => Promise<ShardSource[]>;
  precision: WeightPrecision;
  /** Bytes this worker may fill (default: what the machine and its cgroup leave). */
  memory?: number;
}): Promise<WeightFile> {
  const dir = path.join(options.cacheDir, `${options.contentKey}-${options.precision}`);
  const needed = weightFileBytes(options.config, options.precision);
  const existing = await WeightFile.open(dir);
  // Mapped pages of a file already written count as available only once read; check either way.
  const memory = options.memory ?? availableMemory();
  if (needed > memory) {
    const smaller = (['int8', 'int4'] as const)
      .filter((p) => p !== options.precision)
      .map((p) => `${p}: ${size(weightFileBytes(options.config, p))}`)
      .join(', ');
    throw new ModelDoesNotFit(
      `base model ${options.modelId} needs ${size(needed)} for its ${options.precision} weights; ` +
        `this worker has ${size(memory)} of memory available (${smaller})`,
    );
  }
  if (existing && existing.precision === options.precision) return existing;
  const { read, problems } = await shardReader(options.config, await options.shards());
  if (problems.length)
    throw new Error(
      `base model ${options.modelId}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ' …' : ''}`,
    );
  return writeWeightFile(dir, options.config, read, options.precision);
}
