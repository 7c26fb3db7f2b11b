// safetensors: u64 little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw little-endian data. Only the dtypes the engine uses.
import type { ShardSource } from './shard-source.js';

export interface NamedTensor {
  dtype: 'F32' | 'F16' | 'BF16' | 'I64';
  shape: number[];
  data: Float32Array | Uint16Array | BigInt64Array;
}

const BYTES: Record<NamedTensor['dtype'], number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

/** Serializes tensors (sorted by name, header padded to 8 bytes, as the reference writer does). */
export function writeSafetensors(tensors: Map<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = Object.keys(metadata).length ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const name of names) {
    const tensor = tensors.get(name)!;
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (size !== tensor.data.length)
      throw new Error(`tensor ${name}: shape [${tensor.shape}] holds ${size} values, data has ${tensor.data.length}`);
    header[name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + tensor.data.byteLength],
    };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

/** Parses a safetensors file, checking every range against the buffer; copies data out aligned. */
export function readSafetensors(bytes: Uint8Array): {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) throw new Error('not a safetensors file: shorter than its 8-byte header length');
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + headerLength > bytes.length)
    throw new Error(`not a safetensors file: header length ${headerLength} exceeds the file`);
  let header: Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>
  >;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new Error('not a safetensors file: the header is not JSON');
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const {
      dtype,
      shape,
      data_offsets: [start, end],
    } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) throw new Error(`tensor ${name}: dtype ${dtype} is not supported (F32, F16, BF16, I64)`);
    const width = BYTES[dtype as NamedTensor['dtype']];
    const size = shape.reduce((a, b) => a * b, 1);
    if (end - start !== size * width || dataStart + end > bytes.length)
      throw new Error(`tensor ${name}: byte range [${start}, ${end}) does not fit shape [${shape}] ${dtype}`);
    // A copy, aligned for typed arrays (Node's Buffer#slice would share the file's memory).
    const copy = new Uint8Array(bytes.subarray(dataStart + start, dataStart + end)).buffer;
    const data =
      dtype === 'F32'
        ? new Float32Array(copy)
        : dtype === 'F16' || dtype === 'BF16'
          ? new Uint16Array(copy)
          : new BigInt64Array(copy);
    tensors.set(name, { dtype: dtype as NamedTensor['dtype'], shape, data });
  }
  return { tensors, metadata };
}

/** Any floating tensor as fp32: F16 and BF16 (how checkpoints are often shipped) are widened. */
export function toFloat32(tensor: NamedTensor): Float32Array {
  if (tensor.dtype === 'F32') return tensor.data as Float32Array;
  const half = tensor.data as Uint16Array;
  if (tensor.dtype === 'BF16') return new Float32Array(Uint32Array.from(half, (bits) => bits << 16).buffer);
  if (tensor.dtype === 'F16') return Float32Array.from(half, halfToFloat);
  throw new Error(`a ${tensor.dtype} tensor is not floating point`);
}

/** IEEE 754 binary16 bits → number (subnormals, infinities and NaN included). */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Where one tensor of a shard lies: absolute byte offsets into the shard. */
export interface TensorEntry {
  dtype: NamedTensor['dtype'];
  shape: number[];
  start: number;
  end: number;
}

/** The largest header a shard may have; real ones are a few hundred KiB. */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

/**
 * A shard's header without its data: every tensor's dtype, shape and byte range, each checked
 * against the shard's size. Problems (not throws) for what a caller reports as a 4xx.
 */
export async function readSafetensorsHeader(
  source: ShardSource,
): Promise<{ tensors: Map<string, TensorEntry>; problems: string[] }> {
  const tensors = new Map<string, TensorEntry>();
  if (source.size < 8) return { tensors, problems: [`${source.name}: shorter than its 8-byte header length`] };
  const lengthBytes = await source.read(0, 8);
  const headerLength = Number(new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > source.size)
    return { tensors, problems: [`${source.name}: header length ${headerLength} exceeds the file or 100 MiB`] };
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(await source.read(8, headerLength)));
  } catch {
    return { tensors, problems: [`${source.name}: the header is not JSON`] };
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    return { tensors, problems: [`${source.name}: the header is not a JSON object`] };
  const problems: string[] = [];
  const dataStart = 8 + headerLength;
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) {
      problems.push(`${source.name}: tensor ${name} has dtype ${String(dtype)} (supported: F32, F16, BF16, I64)`);
      continue;
    }
    const validShape = Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
    const validOffsets =
      Array.isArray(offsets) && offsets.length === 2 && offsets.every((o) => Number.isSafeInteger(o) && o >= 0);
    if (!validShape || !validOffsets) {
      problems.push(`${source.name}: tensor ${name} has no valid shape and data_offsets`);
      continue;
    }
    const [start, end] = offsets as [number, number];
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - start !== size * BYTES[dtype as NamedTensor['dtype']] || dataStart + end > source.size) {
      problems.push(
        `${source.name}: tensor ${name}: byte range [${start}, ${end}) does not fit shape [${shape}] ${dtype}`,
      );
      continue;
    }
    tensors.set(name, {
      dtype: dtype as NamedTensor['dtype'],
      shape: shape as number[],
      start: dataStart + start,
      end: dataStart + end,
    });
  }
  return { tensors, problems };
}

/** One tensor's values as fp32, read from its shard (F16/BF16 widened). */
export async function readTensorAsFloat32(source: ShardSource, entry: TensorEntry): Promise<Float32Array> {
  // A copy, aligned for typed arrays (a shard's bytes may sit at any offset of a buffer).
  const bytes = new Uint8Array(await source.read(entry.start, entry.end - entry.start)).buffer;
  const data =
    entry.dtype === 'F32'
      ? new Float32Array(bytes)
      : entry.dtype === 'I64'
        ? new BigInt64Array(bytes)
        : new Uint16Array(bytes);
  return toFloat32({ dtype: entry.dtype, shape: entry.shape, data });
}
