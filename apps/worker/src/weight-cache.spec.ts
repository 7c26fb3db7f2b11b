import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  memoryShard,
  randomWeights,
  weightFileBytes,
  weightShapes,
  writeSafetensors,
  type DecoderConfig,
  type NamedTensor,
} from '@tessera/engine';
import { cachedWeightFile, ModelDoesNotFit } from './weight-cache.js';

const config: DecoderConfig = {
  architecture: 'llama',
  vocabSize: 40,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 96,
  maxPositions: 16,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: true,
};
const weights = randomWeights(config, 2);
const checkpoint = writeSafetensors(
  new Map<string, NamedTensor>(
    [...weightShapes(config)].map(([name, shape]) => [
      `model.${name}`,
      { dtype: 'F32', shape, data: weights.get(name)! },
    ]),
  ),
);
const root = await mkdtemp(path.join(tmpdir(), 'weight-cache-'));
after(() => rm(root, { recursive: true, force: true }));

describe('cachedWeightFile', () => {
  it('writes a model once and maps the same file on every later load, without reading the checkpoint again', async () => {
    let reads = 0;
    const shards = async () => {
      reads++;
      return [memoryShard('model.safetensors', checkpoint)];
    };
    const options = { cacheDir: root, modelId: 'm1', contentKey: 'k1', config, shards, precision: 'int4' as const };
    const first = await cachedWeightFile(options);
    const second = await cachedWeightFile(options);
    assert.equal(reads, 1);
    assert.equal(second.dir, first.dir);
    assert.equal(second.precision, 'int4');
    assert.equal(first.bytes > 0 && first.bytes >= weightFileBytes(config, 'int4'), true);
  });

  it('refuses a model larger than the memory available before reading anything, naming both and the other precisions', async () => {
    let reads = 0;
    const needed = weightFileBytes(config, 'fp32');
    await assert.rejects(
      cachedWeightFile({
        cacheDir: root,
        modelId: 'm2',
        contentKey: 'k2',
        config,
        shards: async () => {
          reads++;
          return [memoryShard('model.safetensors', checkpoint)];
        },
        precision: 'fp32',
        memory: needed - 1,
      }),
      (error: Error) => {
        assert.ok(error instanceof ModelDoesNotFit);
        const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;
        assert.equal(
          error.message,
          `base model m2 needs ${kib(needed)} for its fp32 weights; this worker has ${kib(needed - 1)} of memory ` +
            `available (int8: ${kib(weightFileBytes(config, 'int8'))}, int4: ${kib(weightFileBytes(config, 'int4'))})`,
        );
        return true;
      },
    );
    assert.equal(reads, 0);
  });

  it('names what is wrong with a checkpoint that does not fit its config', async () => {
    const shards = async () => [memoryShard('model.safetensors', writeSafetensors(new Map()))];
    await assert.rejects(
      cachedWeightFile({ cacheDir: root, modelId: 'm3', contentKey: 'k3', config, shards, precision: 'fp32' }),
      /base model m3: missing tensor embed_tokens\.weight/,
    );
  });
});
