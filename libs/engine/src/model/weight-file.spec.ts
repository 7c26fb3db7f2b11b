import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { memoryShard } from '../format/shard-source.js';
import { referenceForward } from '../reference/reference-decoder.js';
import { maxAbsDiff, randomWeights } from '../testing/random.js';
import { RowCaches } from '../testing/row-caches.js';
import { referenceWeightsOf } from '../testing/weight-file-reference.js';
import { weightShapes, type DecoderConfig } from './decoder-config.js';
import { DecoderSession } from './decoder-session.js';
import { readerOf, shardReader, WeightFile, writeWeightFile, type WeightFileIndex } from './weight-file.js';

const configs: DecoderConfig[] = [
  { architecture: 'gpt2', vocabSize: 61, dModel: 64, nLayers: 2, nHeads: 4, maxPositions: 16, normEps: 1e-5 },
  {
    architecture: 'llama',
    vocabSize: 61,
    dModel: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    ffnDim: 96,
    maxPositions: 16,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieEmbeddings: false,
  },
];
const ids = [
  [5, 17, 3, 60, 0, 42, 9],
  [1, 1, 2, 3, 5, 8, 13],
];
const prefill = (rows: number[][]) => ({
  ids: rows,
  positions: rows.map((row) => row.map((_, t) => t)),
  attentionMask: rows.map((row) => row.map(() => 1)),
});
/** One decode step after `prefill(ids)`: the next token of each row at position T. */
const decodeStep = (past: Awaited<ReturnType<DecoderSession['forward']>>['newKv'], session: DecoderSession) => ({
  ids: ids.map(() => [7]),
  positions: ids.map((row) => [row.length]),
  attentionMask: ids.map((row) => [...row.map(() => 1), 1]),
  cache: new RowCaches(session.config, ids.length).append(past).input(),
});

const root = await mkdtemp(path.join(tmpdir(), 'weight-file-'));
after(() => rm(root, { recursive: true, force: true }));

for (const config of configs) {
  describe(`${config.architecture} graphs over a weight file`, () => {
    const weights = randomWeights(config, 5);

    it('fp32: the same logits as the graph with embedded weights, prefill and a cached decode step', async () => {
      const file = await writeWeightFile(
        path.join(root, `${config.architecture}-fp32`),
        config,
        readerOf(weights),
        'fp32',
      );
      const embedded = await DecoderSession.load(config, weights, { threads: 1 });
      for (const shareWeights of [false, true]) {
        const mapped = await DecoderSession.load(config, file, { threads: 1, shareWeights });
        const a = await embedded.forward(prefill(ids));
        const b = await mapped.forward(prefill(ids));
        assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-5, `prefill ${maxAbsDiff(a.logits, b.logits)}`);
        const c = await embedded.forward(decodeStep(a.newKv, embedded));
        const d = await mapped.forward(decodeStep(b.newKv, mapped));
        assert.ok(maxAbsDiff(c.logits, d.logits) < 1e-5, `decode ${maxAbsDiff(c.logits, d.logits)}`);
        await mapped.release();
      }
      await embedded.release();
    });

    for (const precision of ['int8', 'int4'] as const) {
      it(`${precision}: MatMulNBits computes the TypeScript reference over the dequantized weights (fp32 compute, < 1e-4)`, async () => {
        const file = await writeWeightFile(
          path.join(root, `${config.architecture}-${precision}`),
          config,
          readerOf(weights),
          precision,
        );
        const session = await DecoderSession.load(config, file, { threads: 1, quantizedAccuracy: 0 });
        const { logits } = await session.forward(prefill(ids));
        const reference = referenceForward(config, await referenceWeightsOf(config, file), ids).logits;
        const diff = maxAbsDiff(logits, reference);
        assert.ok(diff < 1e-4, `max abs diff ${diff}`);
        await session.release();
      });

      it(`${precision}: the fast kernels (int8 activations) stay near fp32 logits`, async () => {
        const fp32 = referenceForward(config, weights, ids).logits;
        const file = (await WeightFile.open(path.join(root, `${config.architecture}-${precision}`)))!;
        const session = await DecoderSession.load(config, file, { threads: 1 });
        const { logits } = await session.forward(prefill(ids));
        const scale = Math.max(...fp32.map(Math.abs));
        // Random weights at scale 0.15 are the worst case for 4 bits (no outlier-free structure).
        // int8 also holds the embedding at 8 bits.
        const tolerance = precision === 'int8' ? 0.04 : 0.25;
        const relative = maxAbsDiff(logits, fp32) / scale;
        assert.ok(relative < tolerance, `max abs diff / max |logit| = ${relative}`);
        assert.ok(relative > 0, 'quantized logits equal fp32 ones: the weights were not quantized');
        await session.release();
      });
    }
  });
}

describe('weight files', () => {
  it('hold quantized projections in 8 (int8) or 4 (int4) bits a weight plus an fp32 scale per block of 64 (32 where K is 96), and an int8 embedding', async () => {
    const projectionBytes = async (precision: string) => {
      const { index } = (await WeightFile.open(path.join(root, `llama-${precision}`)))!;
      let bytes = 0;
      for (const [name, stored] of Object.entries(index.tensors))
        if (name.endsWith('#in_out'))
          bytes += stored.kind === 'float32' ? stored.length : stored.data.length + stored.scales.length;
      return bytes;
    };
    // Llama d 64, ffn 96, vocab 61, 2 layers: [K, N] of q, k, v, o, gate, up (K 64) and down (K 96), and the head (K 64).
    const byK = { 64: 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 2 * 64 * 96) + 64 * 61, 96: 2 * 96 * 64 };
    assert.equal(await projectionBytes('fp32'), 4 * (byK[64] + byK[96]));
    for (const bits of [8, 4])
      assert.equal(
        await projectionBytes(`int${bits}`),
        byK[64] * (bits / 8 + 4 / 64) + byK[96] * (bits / 8 + 4 / 32),
        `int${bits}`,
      );
    for (const precision of ['int8', 'int4']) {
      const file = (await WeightFile.open(path.join(root, `llama-${precision}`)))!;
      const embedding = file.stored('embed_tokens.weight');
      assert.equal(embedding?.kind === 'nbits' && embedding.bits, 8, `${precision}: the embedding is int8`);
    }
    assert.equal(
      (await WeightFile.open(path.join(root, 'llama-fp32')))!.stored('embed_tokens.weight')?.kind,
      'float32',
    );
  });

  it('a model over 2 GB of weights loads and computes what the same model computes in memory', async () => {
    // GPT-2 with a position table of 9,000,000 rows (2.1 GiB): made by appending the table as a
    // sparse region of the weight file, so the test writes a few KiB; ONNX Runtime maps the
    // table and reads only the rows the positions touch. No graph protobuf could hold it.
    const small = configs[0]!;
    const weights = randomWeights(small, 9);
    const dir = path.join(root, 'big');
    const file = await writeWeightFile(dir, small, readerOf(weights), 'fp32');
    const rows = 9_000_000;
    const index: WeightFileIndex = JSON.parse(await readFile(path.join(dir, WeightFile.INDEX), 'utf8'));
    const offset = Math.ceil(file.bytes / 4096) * 4096;
    const length = rows * small.dModel * 4;
    const wpe = weights.get('wpe.weight')!;
    const handle = await open(path.join(dir, WeightFile.DATA), 'r+');
    await handle.truncate(offset + length);
    await handle.write(new Uint8Array(wpe.buffer, wpe.byteOffset, wpe.byteLength), 0, wpe.byteLength, offset);
    await handle.close();
    index.tensors['wpe.weight'] = { kind: 'float32', shape: [rows, small.dModel], offset, length };
    index.bytes = offset + length;
    await writeFile(path.join(dir, WeightFile.INDEX), JSON.stringify(index));
    const big = (await WeightFile.open(dir))!;
    assert.ok(big.bytes > 2 ** 31, `${big.bytes} bytes`);

    const bigConfig: DecoderConfig = { ...small, maxPositions: rows };
    const session = await DecoderSession.load(bigConfig, big, { threads: 1, shareWeights: true });
    const { logits } = await session.forward(prefill(ids));
    const diff = maxAbsDiff(logits, referenceForward(small, weights, ids).logits);
    assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    await session.release();
  });

  it('two processes writing the same model at once both end with one whole file, and no staging is left', async () => {
    const config = configs[1]!;
    const weights = randomWeights(config, 6);
    const dir = path.join(root, 'raced');
    const [a, b] = await Promise.all([
      writeWeightFile(dir, config, readerOf(weights), 'int8'),
      writeWeightFile(dir, config, readerOf(weights), 'int8'),
    ]);
    assert.equal(a.bytes, b.bytes);
    assert.deepEqual(
      (await readdir(root)).filter((name) => name.startsWith('raced')),
      ['raced'],
    );
    assert.deepEqual(await (await WeightFile.open(dir))!.readFloat32('norm.weight'), weights.get('norm.weight'));
  });

  it('a checkpoint read from shards lists every problem before reading data', async () => {
    const config = configs[1]!;
    const weights = randomWeights(config, 3);
    const shapes = weightShapes(config);
    const tensors = new Map<string, NamedTensor>();
    for (const [name, shape] of shapes) {
      if (name === 'layers.1.mlp.up_proj.weight') continue; // missing
      if (name === 'norm.weight')
        tensors.set(`model.${name}`, { dtype: 'F32', shape: [2, 32], data: weights.get(name)! });
      else
        tensors.set(name === 'lm_head.weight' ? name : `model.${name}`, {
          dtype: 'F32',
          shape,
          data: weights.get(name)!,
        });
    }
    tensors.set('model.layers.0.extra.weight', { dtype: 'F32', shape: [1], data: Float32Array.of(1) });
    const { problems } = await shardReader(config, [memoryShard('model.safetensors', writeSafetensors(tensors))]);
    assert.deepEqual(problems.sort(), [
      'missing tensor layers.1.mlp.up_proj.weight',
      'model.norm.weight: shape [2,32], expected [64]',
      'unexpected tensor model.layers.0.extra.weight in model.safetensors',
    ]);
  });

  it('a checkpoint split over shards and stored in bf16 reads back as its fp32 widening', async () => {
    const config = configs[1]!;
    const weights = randomWeights(config, 4);
    const names = [...weightShapes(config).keys()];
    const toBf16 = (data: Float32Array) => Uint16Array.from(new Uint32Array(data.buffer), (bits) => bits >>> 16);
    const shard = (part: string[]) =>
      writeSafetensors(
        new Map(
          part.map((name) => [
            name === 'lm_head.weight' ? name : `model.${name}`,
            { dtype: 'BF16' as const, shape: weightShapes(config).get(name)!, data: toBf16(weights.get(name)!) },
          ]),
        ),
      );
    const half = Math.floor(names.length / 2);
    const { read, problems } = await shardReader(config, [
      memoryShard('model-00001-of-00002.safetensors', shard(names.slice(0, half))),
      memoryShard('model-00002-of-00002.safetensors', shard(names.slice(half))),
    ]);
    assert.deepEqual(problems, []);
    const name = 'layers.1.self_attn.k_proj.weight';
    const widened = await read(name);
    const expected = Float32Array.from(weights.get(name)!, (v) => {
      const bits = new Uint32Array(Float32Array.of(v).buffer)[0]! & 0xffff0000;
      return new Float32Array(Uint32Array.of(bits).buffer)[0]!;
    });
    assert.deepEqual(widened, expected);
  });
});
