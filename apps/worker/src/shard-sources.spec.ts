import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BaseModelModel } from '@tessera/db';
import {
  bpeTokenizerJson,
  randomWeights,
  readSafetensors,
  shardReader,
  TINY_LLAMA,
  WeightFile,
  writeHfCheckpoint,
  writeSafetensors,
} from '@tessera/engine';
import { tenantBlobStores, type TenantBlobStores } from '@tessera/storage';
import { BaseModelLoader } from './base-models.js';
import { shardSourcesOf, tokenizerFilesOf } from './shard-sources.js';

const config = TINY_LLAMA;
const weights = randomWeights(config, 3);

/** A base_models row as the gateway leaves it once an import is ready. */
function row(over: Partial<BaseModelModel>): BaseModelModel {
  return {
    id: 'bm_test',
    tenantId: null,
    name: 'tiny',
    architecture: 'llama',
    config: config as never,
    weightsBlob: null,
    tokenizerBlob: null,
    status: 'ready',
    precision: 'fp32',
    checkpointPrefix: null,
    checkpointIndex: null,
    weightShards: null,
    createdAt: new Date(),
    ...over,
  };
}

describe("a base model's shards as byte-range sources (blob store or platform prefix), never read whole", () => {
  let dataDir: string;
  let blobs: TenantBlobStores;
  let shards: Map<string, Uint8Array>;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-shard-sources-'));
    blobs = tenantBlobStores({ kind: 'fs', dataDir });
    await writeHfCheckpoint(path.join(dataDir, 'hf'), config, weights);
    const tensors = readSafetensors(await readFile(path.join(dataDir, 'hf', 'model.safetensors'))).tensors;
    const names = [...tensors.keys()].sort();
    shards = new Map(
      [0, 1].map((i) => [
        `model-0000${i + 1}-of-00002.safetensors`,
        writeSafetensors(new Map(names.filter((_, n) => n % 2 === i).map((name) => [name, tensors.get(name)!]))),
      ]),
    );
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  /** The sources hold the checkpoint: the engine's own reading finds every weight, equal to what was written. */
  async function assertHoldsTheWeights(sources: Awaited<ReturnType<typeof shardSourcesOf>>) {
    assert.deepEqual(sources.map((s) => s.name).sort(), [...shards.keys()]);
    const { read, problems } = await shardReader(config, sources);
    assert.deepEqual(problems, []);
    for (const name of ['embed_tokens.weight', 'layers.1.mlp.down_proj.weight', 'lm_head.weight'])
      assert.deepEqual(await read(name), weights.get(name), name);
  }

  it("reads a tenant's upload from its blob store, shard by shard", async () => {
    const store = blobs.forTenant('ten_a');
    const stored = [];
    for (const [file, bytes] of shards)
      stored.push({ file, bytes: bytes.length, sha256: (await store.put(bytes)).sha256 });
    const tokenizer = await store.put(
      new TextEncoder().encode(
        JSON.stringify({ tokenizer: bpeTokenizerJson(), tokenizer_config: { eos_token: '<|endoftext|>' } }),
      ),
    );
    const upload = row({ tenantId: 'ten_a', weightShards: stored, tokenizerBlob: tokenizer.sha256 });
    await assertHoldsTheWeights(await shardSourcesOf(upload, blobs));
    assert.deepEqual((await tokenizerFilesOf(upload, blobs))?.tokenizer, bpeTokenizerJson());
    // And the loader makes its weight file from them.
    const loader = new BaseModelLoader(path.join(dataDir, 'models'), blobs, path.join(dataDir, 'weights'));
    const loaded = await loader.load(upload, 'serve');
    assert.ok(loaded.weights instanceof WeightFile);
    assert.deepEqual(await loaded.weights.readFloat32('embed_tokens.weight'), weights.get('embed_tokens.weight'));
    assert.equal(loaded.tokenizer.vocabSize, 262);
  });

  it('reads a platform checkpoint in place, and refuses a shard rewritten since it was validated', async () => {
    const folder = path.join(dataDir, 'checkpoints', 'org', 'tiny');
    await mkdir(folder, { recursive: true });
    for (const [file, bytes] of shards) await writeFile(path.join(folder, file), bytes);
    await writeFile(path.join(folder, 'tokenizer.json'), JSON.stringify(bpeTokenizerJson()));
    const platform = row({
      checkpointPrefix: 'org/tiny',
      tokenizerBlob: 'tokenizer.json',
      weightShards: [...shards].map(([file, bytes]) => ({ file, bytes: bytes.length, sha256: null })),
    });
    await assertHoldsTheWeights(await shardSourcesOf(platform, blobs));
    assert.deepEqual((await tokenizerFilesOf(platform, blobs))?.tokenizer, bpeTokenizerJson());

    await writeFile(path.join(folder, 'model-00002-of-00002.safetensors'), new Uint8Array(10));
    await assert.rejects(shardSourcesOf(platform, blobs), /holds 10 bytes, \d+ when it was validated/);
  });

  it('the loader refuses a model that is not ready, before reading anything', async () => {
    const loader = new BaseModelLoader(path.join(dataDir, 'models'), blobs, path.join(dataDir, 'weights'));
    const uploading = row({ tenantId: 'ten_a', status: 'uploading', weightShards: null });
    await assert.rejects(loader.load(uploading, 'serve'), /is uploading: only a validated checkpoint loads/);
    await assert.rejects(loader.load(uploading, 'train'), /is uploading/);
  });
});
