import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import type { TensorSet } from './optimizer.js';

/**
 * Everything a run needs to continue exactly where it stopped: the trainable tensors, the
 * optimizer's moments and step, and the data position. The data order and every random
 * draw derive from the seed and the position, so they need no state of their own.
 */
export interface TrainingCheckpoint {
  step: number;
  /** Micro-batches consumed so far (the data position). */
  microBatches: number;
  seed: number;
  params: TensorSet;
  adamM: TensorSet;
  adamV: TensorSet;
}

/** One safetensors file: tensors `param/…`, `adam_m/…`, `adam_v/…`, the counters in its metadata. */
export function encodeCheckpoint(checkpoint: TrainingCheckpoint): Uint8Array {
  const tensors = new Map<string, NamedTensor>();
  const put = (prefix: string, set: TensorSet) => {
    for (const [name, data] of set) tensors.set(`${prefix}/${name}`, { dtype: 'F32', shape: [data.length], data });
  };
  put('param', checkpoint.params);
  put('adam_m', checkpoint.adamM);
  put('adam_v', checkpoint.adamV);
  return writeSafetensors(tensors, {
    step: String(checkpoint.step),
    micro_batches: String(checkpoint.microBatches),
    seed: String(checkpoint.seed),
    params: JSON.stringify([...checkpoint.params.keys()]),
  });
}

export function decodeCheckpoint(bytes: Uint8Array): TrainingCheckpoint {
  const { tensors, metadata } = readSafetensors(bytes);
  if (!metadata.params || !metadata.step)
    throw new Error('not a training checkpoint: its metadata names no step or parameters');
  const names = JSON.parse(metadata.params) as string[];
  const take = (prefix: string, required: boolean) => {
    const set: TensorSet = new Map();
    for (const name of names) {
      const tensor = tensors.get(`${prefix}/${name}`);
      if (tensor) set.set(name, tensor.data as Float32Array);
      else if (required) throw new Error(`training checkpoint: missing ${prefix}/${name}`);
    }
    return set;
  };
  return {
    step: Number(metadata.step),
    microBatches: Number(metadata.micro_batches),
    seed: Number(metadata.seed),
    params: take('param', true),
    adamM: take('adam_m', false),
    adamV: take('adam_v', false),
  };
}

/** Writes the checkpoint file atomically: a temporary name, then one rename. */
export async function saveCheckpoint(path: string, checkpoint: TrainingCheckpoint): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(`${path}.tmp`, encodeCheckpoint(checkpoint));
  await rename(`${path}.tmp`, path);
}

export async function loadCheckpoint(path: string): Promise<TrainingCheckpoint> {
  return decodeCheckpoint(new Uint8Array(await readFile(path)));
}
