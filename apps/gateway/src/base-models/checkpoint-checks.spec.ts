import assert from 'node:assert/strict';
import { it } from 'node:test';
import { randomWeights, weightShapes, writeSafetensors, type DecoderConfig, type NamedTensor } from '@tessera/engine';
import { memoryShard, type ShardSource } from '@tessera/engine/formats';
import { checkpointProblems } from './checkpoint-checks.js';

const config: DecoderConfig = {
  architecture: 'llama',
  vocabSize: 262,
  dModel: 64,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 128,
  maxPositions: 64,
  normEps: 1e-6,
  ropeTheta: 10000,
  tieEmbeddings: false,
};

/** A shard that counts the bytes read from it. */
function counted(shard: ShardSource): ShardSource & { bytesRead: number } {
  const source = {
    name: shard.name,
    size: shard.size,
    bytesRead: 0,
    read: async (offset: number, length: number) => {
      source.bytesRead += length;
      return shard.read(offset, length);
    },
  };
  return source;
}

it('validates a whole sharded checkpoint from its headers, reading none of its tensor data', async () => {
  const weights = randomWeights(config, 1);
  const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const names = [...weightShapes(config).keys()];
  const weightMap: Record<string, string> = {};
  const shards = files.map((file, i) => {
    const tensors = new Map<string, NamedTensor>();
    for (const [n, name] of names.entries()) {
      if (n % 2 !== i) continue;
      const hfName = name === 'lm_head.weight' ? name : `model.${name}`;
      weightMap[hfName] = file;
      tensors.set(hfName, { dtype: 'F32', shape: weightShapes(config).get(name)!, data: weights.get(name)! });
    }
    return counted(memoryShard(file, writeSafetensors(tensors)));
  });

  assert.deepEqual(await checkpointProblems(config, { weight_map: weightMap }, shards), []);
  const size = shards.reduce((sum, s) => sum + s.size, 0);
  const read = shards.reduce((sum, s) => sum + s.bytesRead, 0);
  // Each header is read twice (placement, then the worker's own reading): a few KiB of ~180 KiB.
  assert.ok(read < size / 10, `${read} of ${size} bytes read`);
});
