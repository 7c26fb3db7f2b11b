import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  randomWeights,
  readSafetensors,
  writeHfCheckpoint,
  writeSafetensors,
  type DecoderConfig,
  type NamedTensor,
} from '@tessera/engine';
import { call } from './test-gateway.js';

/** A checkpoint's tensors by their Hugging Face names, and its config.json, as transformers writes them. */
export async function hfTensors(
  config: DecoderConfig,
  seed: number,
): Promise<{ config: Record<string, unknown>; tensors: Map<string, NamedTensor> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-hf-'));
  try {
    await writeHfCheckpoint(dir, config, randomWeights(config, seed));
    return {
      config: JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
      tensors: readSafetensors(await readFile(path.join(dir, 'model.safetensors'))).tensors,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Tensors cut into `count` shards named as transformers names them, with the index that maps them. */
export function shard(
  tensors: Map<string, NamedTensor>,
  count: number,
): {
  files: Map<string, Uint8Array>;
  index: { metadata: Record<string, unknown>; weight_map: Record<string, string> };
} {
  const names = [...tensors.keys()].sort();
  const files = new Map<string, Uint8Array>();
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
    const mine = names.filter((_, n) => n % count === i);
    for (const name of mine) weightMap[name] = file;
    files.set(file, writeSafetensors(new Map(mine.map((name) => [name, tensors.get(name)!]))));
  }
  const totalSize = [...tensors.values()].reduce((sum, t) => sum + t.data.byteLength, 0);
  return { files, index: { metadata: { total_size: totalSize }, weight_map: weightMap } };
}

/** A safetensors file with whatever header a test needs (bad dtypes, ranges past the end), then `data`. */
export function rawSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

export const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** RFC 9530's Content-Digest of a part. */
export const contentDigest = (bytes: Uint8Array) => `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;

/** Uploads a part as a client does: octet-stream, with its Content-Digest (or the one given). */
export function putPart(
  gateway: { url: string },
  key: string,
  modelId: string,
  file: string,
  number: number,
  bytes: Uint8Array,
  digest = contentDigest(bytes),
) {
  return call(gateway, 'PUT', `/v1/base-models/${modelId}/shards/${file}/parts/${number}`, {
    key,
    rawBody: bytes,
    headers: { 'content-type': 'application/octet-stream', 'content-digest': digest },
  });
}

/** Starts a shard, sends every part and completes it; any non-2xx answer throws, naming the step. */
export async function uploadShard(
  gateway: { url: string },
  key: string,
  modelId: string,
  file: string,
  bytes: Uint8Array,
) {
  const expectOk = (step: string, answer: { status: number; body: unknown }) => {
    if (answer.status >= 300) throw new Error(`${step} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body as any;
  };
  const started = expectOk(
    `starting ${file}`,
    await call(gateway, 'PUT', `/v1/base-models/${modelId}/shards/${file}`, {
      key,
      body: { size: bytes.length, sha256: sha256Hex(bytes) },
    }),
  );
  for (let n = 1; n <= started.part_count; n++) {
    const part = bytes.subarray((n - 1) * started.part_size, n * started.part_size);
    expectOk(`part ${n} of ${file}`, await putPart(gateway, key, modelId, file, n, part));
  }
  return expectOk(
    `completing ${file}`,
    await call(gateway, 'POST', `/v1/base-models/${modelId}/shards/${file}/complete`, { key }),
  );
}
