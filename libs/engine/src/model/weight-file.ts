import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readSafetensorsHeader, readTensorAsFloat32, type TensorEntry } from '../format/safetensors.js';
import type { ShardSource } from '../format/shard-source.js';
import { transpose } from '../matrix.js';
import {
  projectionKey,
  projectionShape,
  targetModules,
  weightShapes,
  type DecoderConfig,
  type DecoderWeights,
} from './decoder-config.js';
import { quantizationBlockSize, quantizeColumns, type QuantizedBits, type QuantizedMatrix } from './quantize.js';

/**
 * How a base model's linear layers are kept. fp16 and bf16 checkpoints are read as they are
 * stored and widened on CPU, whose MatMul computes in fp32 (MLAS has no x86 half GEMM);
 * int8 and int4 are weight-only block-wise quantization run by MatMulNBits.
 */
export type WeightPrecision = 'fp32' | 'int8' | 'int4';
export const WEIGHT_PRECISIONS: readonly WeightPrecision[] = ['fp32', 'int8', 'int4'];

/** A byte range of weights.bin. */
interface Extent {
  offset: number;
  length: number;
}

export type StoredWeight =
  | ({ kind: 'float32'; shape: number[] } & Extent)
  | {
      kind: 'nbits';
      bits: QuantizedBits;
      k: number;
      n: number;
      blockSize: number;
      data: Extent;
      scales: Extent;
    };

/** weights.json: what each stored tensor is and where it lies in weights.bin. */
export interface WeightFileIndex {
  format: 'tessera-weights/1';
  precision: WeightPrecision;
  /** Bytes of weights.bin. */
  bytes: number;
  tensors: Record<string, StoredWeight>;
}

/**
 * The stored name of a projection in the graph's layout: W [in, out] (y = x·W), transposed
 * from torch's Linear [out, in] once at write time, or quantized by output column.
 */
export function projectionWeightName(weightName: string): string {
  return `${weightName}#in_out`;
}

/** The output projection [d, vocab] (the embedding's transpose when tied): kept apart so it is never transposed at load. */
export const HEAD_WEIGHT = 'head#in_out';

/** Offsets are page-aligned so ONNX Runtime can map every tensor straight from the file. */
const ALIGNMENT = 4096;

/**
 * A base model's weights in the engine's layout, in one file that graphs reference as ONNX
 * external data: sessions map it instead of copying it, so no graph protobuf holds weights
 * (no 2 GB cap) and every session of a process reads the same pages.
 */
export class WeightFile {
  private constructor(
    readonly dir: string,
    readonly index: WeightFileIndex,
  ) {}

  static readonly DATA = 'weights.bin';
  static readonly INDEX = 'weights.json';

  /** A complete weight file, or null when `dir` holds none (or an interrupted write). */
  static async open(dir: string): Promise<WeightFile | null> {
    if (!existsSync(path.join(dir, WeightFile.INDEX))) return null;
    const index = JSON.parse(await readFile(path.join(dir, WeightFile.INDEX), 'utf8')) as WeightFileIndex;
    if (index.format !== 'tessera-weights/1') return null;
    return new WeightFile(dir, index);
  }

  get precision(): WeightPrecision {
    return this.index.precision;
  }

  get bytes(): number {
    return this.index.bytes;
  }

  stored(name: string): StoredWeight | undefined {
    return this.index.tensors[name];
  }

  /** One fp32 tensor's values (the reference and tests read them; graphs map them). */
  async readFloat32(name: string): Promise<Float32Array> {
    const stored = this.stored(name);
    if (stored?.kind !== 'float32') throw new Error(`weight file: no fp32 tensor ${name}`);
    return new Float32Array((await this.readExtent(stored)).buffer);
  }

  /** One quantized matrix as stored. */
  async readQuantized(name: string): Promise<QuantizedMatrix> {
    const stored = this.stored(name);
    if (stored?.kind !== 'nbits') throw new Error(`weight file: no quantized tensor ${name}`);
    const { bits, k, n, blockSize } = stored;
    const data = await this.readExtent(stored.data);
    const scales = new Float32Array((await this.readExtent(stored.scales)).buffer);
    return { bits, k, n, blockSize, data, scales };
  }

  private async readExtent(extent: Extent): Promise<Uint8Array> {
    const handle = await open(path.join(this.dir, WeightFile.DATA), 'r');
    try {
      const bytes = new Uint8Array(extent.length);
      await handle.read(bytes, 0, extent.length, extent.offset);
      return bytes;
    } finally {
      await handle.close();
    }
  }
}

/** Where a writer reads each weight: by engine name (prefix dropped), in Hugging Face's layout, as fp32. */
export type WeightReader = (name: string) => Promise<Float32Array>;

/**
 * Writes `dir`/weights.bin and weights.json from weights read one at a time, so writing holds
 * one tensor (plus its quantized form), never the checkpoint. Written under a temporary name
 * and renamed once whole: a crash leaves no half file that `open` would accept, and of two
 * processes writing the same model the first to finish wins (the other's copy is dropped).
 */
export async function writeWeightFile(
  dir: string,
  config: DecoderConfig,
  read: WeightReader,
  precision: WeightPrecision,
): Promise<WeightFile> {
  const staging = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(staging, { recursive: true });
  const handle = await open(path.join(staging, WeightFile.DATA), 'w');
  const tensors: Record<string, StoredWeight> = {};
  let offset = 0;
  const append = async (bytes: Uint8Array): Promise<Extent> => {
    const padding = (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
    if (padding) await handle.write(new Uint8Array(padding), 0, padding, offset);
    offset += padding;
    await handle.write(bytes, 0, bytes.length, offset);
    const extent = { offset, length: bytes.length };
    offset += bytes.length;
    return extent;
  };
  const float32 = async (name: string, data: Float32Array, shape: number[]) => {
    tensors[name] = { kind: 'float32', shape, ...(await append(bytesOf(data))) };
  };
  const quantized = async (name: string, m: QuantizedMatrix) => {
    const { bits, k, n, blockSize } = m;
    tensors[name] = {
      kind: 'nbits',
      bits,
      k,
      n,
      blockSize,
      data: await append(m.data),
      scales: await append(bytesOf(m.scales)),
    };
  };
  const bits: QuantizedBits | null = precision === 'int8' ? 8 : precision === 'int4' ? 4 : null;
  /** A linear layer given as torch's [out, in] (`outIn`) or Conv1D's [in, out]. */
  const linear = async (name: string, data: Float32Array, dIn: number, dOut: number, outIn: boolean) => {
    // A width that is not a whole number of blocks stays fp32 (MatMulNBits quantizes along K in blocks).
    const blockSize = quantizationBlockSize(dIn);
    if (bits && blockSize) {
      const columns = outIn ? data : transpose(data, dIn, dOut);
      await quantized(
        name,
        quantizeColumns(dIn, dOut, bits, (j) => columns.subarray(j * dIn, (j + 1) * dIn), blockSize),
      );
    } else await float32(name, outIn ? transpose(data, dOut, dIn) : data, [dIn, dOut]);
  };
  try {
    const projections = projectionWeights(config);
    const outIn = config.architecture !== 'gpt2';
    const embedding = embeddingWeightName(config);
    const embeddingBlockSize = quantizationBlockSize(config.dModel);
    for (const [name, shape] of weightShapes(config)) {
      const data = await read(name);
      const projection = projections.get(name);
      if (projection) await linear(projection.stored, data, ...projection.shape, outIn);
      else if (name === embedding && bits && embeddingBlockSize)
        // A quantized model's embedding is int8 (GatherBlockQuantized reads it): a lookup touches
        // scattered rows, and an fp32 table would be paged in almost whole (readahead) by a few hundred tokens.
        await quantized(
          name,
          quantizeColumns(
            config.dModel,
            config.vocabSize,
            8,
            (j) => data.subarray(j * config.dModel, (j + 1) * config.dModel),
            embeddingBlockSize,
          ),
        );
      else if (name !== 'lm_head.weight') await float32(name, data, shape);
    }
    // The output projection: lm_head [vocab, d] when untied, else the embedding (a second, transposed copy on disk).
    const table = config.architecture === 'llama' && !config.tieEmbeddings ? 'lm_head.weight' : embedding;
    await linear(HEAD_WEIGHT, await read(table), config.dModel, config.vocabSize, true);
  } catch (error) {
    await handle.close();
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  await handle.close();
  const index: WeightFileIndex = { format: 'tessera-weights/1', precision, bytes: offset, tensors };
  await writeFile(path.join(staging, WeightFile.INDEX), JSON.stringify(index));
  // Another process may have written the same file meanwhile and be mapping it: keep theirs.
  if (!(await WeightFile.open(dir))) await rm(dir, { recursive: true, force: true });
  try {
    await rename(staging, dir);
  } catch (error) {
    if (!(await WeightFile.open(dir))) throw error;
  }
  await rm(staging, { recursive: true, force: true });
  return (await WeightFile.open(dir))!;
}

/** A reader over weights already in memory (tests, benchmarks, a freshly trained base). */
export function readerOf(weights: DecoderWeights): WeightReader {
  return async (name) => {
    const data = weights.get(name);
    if (!data) throw new Error(`missing weight ${name}`);
    return data;
  };
}

/**
 * A reader over a checkpoint's safetensors shards: headers first, every problem (missing,
 * unexpected, misshapen tensors) listed before a byte of data is read.
 */
export async function shardReader(
  config: DecoderConfig,
  shards: ShardSource[],
): Promise<{ read: WeightReader; problems: string[]; storedBytes: number }> {
  const expected = weightShapes(config);
  const located = new Map<string, { shard: ShardSource; entry: TensorEntry }>();
  const seen = new Set<string>();
  const problems: string[] = [];
  let storedBytes = 0;
  for (const shard of shards) {
    const header = await readSafetensorsHeader(shard);
    problems.push(...header.problems);
    for (const [name, entry] of header.tensors) {
      const key = name.replace(/^(transformer|model)\./, '');
      // GPT-2's causal-mask buffers, older Llamas' rotary tables, and a tied lm_head.
      if (/\.attn\.(masked_)?bias$|rotary_emb\.inv_freq$/.test(key) || (key === 'lm_head.weight' && !expected.has(key)))
        continue;
      const shape = expected.get(key);
      seen.add(key);
      if (!shape) problems.push(`unexpected tensor ${name} in ${shard.name}`);
      else if (entry.dtype === 'I64') problems.push(`${name}: dtype I64, expected F32, F16 or BF16`);
      else if (entry.shape.join(',') !== shape.join(','))
        problems.push(`${name}: shape [${entry.shape}], expected [${shape}]`);
      else if (located.has(key)) problems.push(`${name} appears in more than one shard`);
      else {
        located.set(key, { shard, entry });
        storedBytes += entry.end - entry.start;
      }
    }
  }
  for (const name of expected.keys()) if (!seen.has(name)) problems.push(`missing tensor ${name}`);
  const read: WeightReader = async (name) => {
    const at = located.get(name);
    if (!at) throw new Error(`missing weight ${name}`);
    return readTensorAsFloat32(at.shard, at.entry);
  };
  return { read, problems, storedBytes };
}

/** Bytes of the weight file a model will need at a precision (what a memory check compares). */
export function weightFileBytes(config: DecoderConfig, precision: WeightPrecision): number {
  const quantizedBytes = (k: number, n: number, bits: number) => {
    const blockSize = quantizationBlockSize(k);
    return precision === 'fp32' || !blockSize ? 4 * k * n : (k * n * bits) / 8 + (4 * k * n) / blockSize;
  };
  const linearBytes = (k: number, n: number) => quantizedBytes(k, n, precision === 'int8' ? 8 : 4);
  const projections = projectionWeights(config);
  let bytes = linearBytes(config.dModel, config.vocabSize);
  const embedding = embeddingWeightName(config);
  for (const [name, shape] of weightShapes(config)) {
    const projection = projections.get(name);
    const values = shape.reduce((a, b) => a * b, 1);
    if (projection) bytes += linearBytes(...projection.shape);
    else if (name === embedding) bytes += quantizedBytes(config.dModel, config.vocabSize, 8);
    else if (name !== 'lm_head.weight') bytes += 4 * values;
  }
  return bytes;
}

/** The token embedding table [vocab, d]: int8 in a quantized weight file, fp32 otherwise. */
export function embeddingWeightName(config: DecoderConfig): string {
  return config.architecture === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight';
}

/** Every projection weight of a model by its tensor name (`<key>.weight`): W's [in, out] and its name in the file. */
export function projectionWeights(config: DecoderConfig): Map<string, { shape: [number, number]; stored: string }> {
  const projections = new Map<string, { shape: [number, number]; stored: string }>();
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const module of targetModules(config)) {
      const key = projectionKey(config, layer, module);
      projections.set(`${key}.weight`, {
        shape: projectionShape(config, module),
        stored: projectionWeightName(`${key}.weight`),
      });
    }
  }
  return projections;
}

function bytesOf(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
