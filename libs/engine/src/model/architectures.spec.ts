import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { memoryShard } from '../format/shard-source.js';
import { createSession, float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { referenceForward, referenceTokenLogprobs } from '../reference/reference-decoder.js';
import { maxAbsDiff, randomArray, randomWeights, seededRandom } from '../testing/random.js';
import { RowCaches } from '../testing/row-caches.js';
import { referenceWeightsOf } from '../testing/weight-file-reference.js';
import { buildTrainingGraph, gradName } from '../training/training-graph.js';
import { attentionWindow, weightShapes, type DecoderWeights, type LlamaConfig } from './decoder-config.js';
import { DecoderSession } from './decoder-session.js';
import { decoderConfigFromHf, decoderWeightsFromHf, importHfCheckpoint, writeHfCheckpoint } from './hf-checkpoint.js';
import { rotaryInverseFrequencies } from './rotary-frequencies.js';
import { readerOf, writeWeightFile } from './weight-file.js';

/** Llama's maths; each family below changes one thing. hd = 32 / 4 = 8. */
const llama: LlamaConfig = {
  architecture: 'llama',
  vocabSize: 61,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 48,
  maxPositions: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  tieEmbeddings: false,
};
// Qwen2.5-1.5B's shape of config: q/k/v biases, θ = 10⁶, tied head.
const qwen2: LlamaConfig = { ...llama, family: 'qwen2', qkvBias: true, ropeTheta: 1e6, tieEmbeddings: true };
const qwen2Sliding: LlamaConfig = { ...qwen2, slidingWindow: { size: 3, fromLayer: 1 } };
const mistral: LlamaConfig = { ...llama, family: 'mistral', slidingWindow: { size: 3, fromLayer: 0 } };
// Wavelengths 2π/θ^(−2j/8) = 6.3, 63, 628, 6283 against 64/4 = 16 and 64/1 = 64: one frequency of each band.
const llama3: LlamaConfig = {
  ...llama,
  ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 },
};

const ids = [
  [5, 17, 3, 60, 0, 42, 9],
  [1, 1, 2, 3, 5, 8, 13],
];
const B = ids.length;
const T = ids[0]!.length;
const prefill = (rows: number[][]) => ({
  ids: rows,
  positions: rows.map((row) => row.map((_, t) => t)),
  attentionMask: rows.map((row) => row.map(() => 1)),
});
/** Logits of row b at position t of a [B, tokens, V] block. */
const at = (logits: Float32Array, tokens: number, b: number, t: number, vocab = llama.vocabSize) =>
  logits.subarray((b * tokens + t) * vocab, (b * tokens + t + 1) * vocab);

const dirs: string[] = [];
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

for (const [name, config] of [
  ['qwen2', qwen2],
  ['qwen2 with sliding layers from max_window_layers', qwen2Sliding],
  ['mistral', mistral],
  ['llama 3.1 rope scaling', llama3],
] as const) {
  describe(`${name} forward graph`, () => {
    const weights = randomWeights(config, 41);

    it('matches the TypeScript reference, prefill and cached decode (max abs error < 1e-4)', async () => {
      const session = await DecoderSession.load(config, weights, { threads: 1 });
      const reference = referenceForward(config, weights, ids).logits;
      const full = (await session.forward(prefill(ids))).logits;
      assert.ok(maxAbsDiff(full, reference) < 1e-4, `prefill: ${maxAbsDiff(full, reference)}`);
      // Prefill 3, then 2, then one token at a time: past the window, so the cache's oldest entries must be hidden.
      let out = await session.forward(prefill(ids.map((row) => row.slice(0, 3))));
      const cache = new RowCaches(config, B).append(out.newKv);
      for (const [from, to] of [
        [3, 5],
        [5, 6],
        [6, 7],
      ] as const) {
        out = await session.forward({
          ids: ids.map((row) => row.slice(from, to)),
          positions: ids.map(() => Array.from({ length: to - from }, (_, i) => from + i)),
          attentionMask: ids.map(() => Array(to).fill(1)),
          cache: cache.input(),
        });
        cache.append(out.newKv);
        for (let b = 0; b < B; b++)
          for (let t = from; t < to; t++) {
            const diff = maxAbsDiff(at(out.logits, to - from, b, t - from), at(reference, T, b, t));
            assert.ok(diff < 1e-4, `row ${b} position ${t}: ${diff}`);
          }
      }
    });

    it('differs from plain Llama on the same weights (else the check above proves nothing)', () => {
      const plain = referenceForward({ ...llama, tieEmbeddings: config.tieEmbeddings }, weights, ids).logits;
      const ropeOnly = referenceForward({ ...config, ropeTheta: llama.ropeTheta }, weights, ids).logits;
      assert.ok(maxAbsDiff(plain, ropeOnly) > 1e-2, `${maxAbsDiff(plain, ropeOnly)}`);
    });
  });
}

describe('Qwen2 q/k/v biases', () => {
  it('are expected on q_proj, k_proj and v_proj only, and move the logits', async () => {
    const shapes = weightShapes(qwen2);
    assert.deepEqual(shapes.get('layers.1.self_attn.q_proj.bias'), [32]);
    assert.deepEqual(shapes.get('layers.1.self_attn.k_proj.bias'), [16]); // 2 kv heads · 8
    assert.deepEqual(shapes.get('layers.1.self_attn.v_proj.bias'), [16]);
    assert.equal(shapes.has('layers.1.self_attn.o_proj.bias'), false);
    assert.equal([...shapes.keys()].filter((n) => n.endsWith('.bias')).length, 3 * qwen2.nLayers);
    assert.equal([...weightShapes(llama).keys()].filter((n) => n.endsWith('.bias')).length, 0);

    const weights = randomWeights(qwen2, 43);
    for (const [n, data] of weights) if (n.endsWith('.bias')) data.forEach((_, i) => (data[i] = data[i]! * 4));
    const session = await DecoderSession.load(qwen2, weights, { threads: 1 });
    const withBias = (await session.forward(prefill(ids))).logits;
    const zeroed: DecoderWeights = new Map(
      [...weights].map(([n, data]) => [n, n.endsWith('.bias') ? new Float32Array(data.length) : data]),
    );
    const withoutBias = (await (await DecoderSession.load(qwen2, zeroed, { threads: 1 })).forward(prefill(ids))).logits;
    assert.ok(
      maxAbsDiff(withBias, withoutBias) > 1e-2,
      `biases changed logits by ${maxAbsDiff(withBias, withoutBias)}`,
    );
    // Zero biases are exactly Llama with Qwen2's θ and tied head: the biases are all that Qwen2 adds.
    const asLlama = { ...llama, ropeTheta: qwen2.ropeTheta, tieEmbeddings: true };
    const llamaWeights = new Map([...zeroed].filter(([n]) => !n.endsWith('.bias')));
    assert.ok(maxAbsDiff(withoutBias, referenceForward(asLlama, llamaWeights, ids).logits) < 1e-4);
  });

  it('are read from a weight file as the graph maps it: fp32, and beside int8 projections', async () => {
    const config: LlamaConfig = { ...qwen2, ffnDim: 64 }; // int8 in blocks of 32 (d_model inputs) and 64 (ffn inputs)
    const weights = randomWeights(config, 44);
    const embedded = (await (await DecoderSession.load(config, weights, { threads: 1 })).forward(prefill(ids))).logits;
    const root = await mkdtemp(path.join(tmpdir(), 'tessera-arch-'));
    dirs.push(root);
    const fp32 = await writeWeightFile(path.join(root, 'fp32'), config, readerOf(weights), 'fp32');
    assert.equal(fp32.stored('layers.0.self_attn.v_proj.bias')?.kind, 'float32');
    const mapped = (await (await DecoderSession.load(config, fp32, { threads: 1 })).forward(prefill(ids))).logits;
    assert.ok(maxAbsDiff(embedded, mapped) < 1e-5, `${maxAbsDiff(embedded, mapped)}`);
    const int8 = await writeWeightFile(path.join(root, 'int8'), config, readerOf(weights), 'int8');
    const session = await DecoderSession.load(config, int8, { threads: 1, quantizedAccuracy: 0 });
    const quantized = (await session.forward(prefill(ids))).logits;
    const reference = referenceForward(config, await referenceWeightsOf(config, int8), ids).logits;
    assert.ok(maxAbsDiff(quantized, reference) < 1e-4, `${maxAbsDiff(quantized, reference)}`);
  });

  it('names missing and unexpected bias tensors', async () => {
    const shard = (config: LlamaConfig, edit: (tensors: Map<string, NamedTensor>) => void) => {
      const tensors = new Map<string, NamedTensor>();
      for (const [n, shape] of weightShapes(config))
        tensors.set(`model.${n}`, { dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
      edit(tensors);
      return writeSafetensors(tensors);
    };
    const qwen = await decoderWeightsFromHf(qwen2, [
      memoryShard(
        'model.safetensors',
        shard(qwen2, (t) => {
          t.delete('model.layers.0.self_attn.k_proj.bias');
          t.set('model.layers.0.self_attn.o_proj.bias', { dtype: 'F32', shape: [32], data: new Float32Array(32) });
        }),
      ),
    ]);
    assert.deepEqual(qwen.problems.sort(), [
      'missing tensor layers.0.self_attn.k_proj.bias',
      'unexpected tensor model.layers.0.self_attn.o_proj.bias in model.safetensors',
    ]);
    const plain = await decoderWeightsFromHf(llama, [
      memoryShard(
        'model.safetensors',
        shard(llama, (t) =>
          t.set('model.layers.1.self_attn.q_proj.bias', { dtype: 'F32', shape: [32], data: new Float32Array(32) }),
        ),
      ),
    ]);
    assert.deepEqual(plain.problems, ['unexpected tensor model.layers.1.self_attn.q_proj.bias in model.safetensors']);
  });
});

describe('sliding window attention', () => {
  // One layer, so a token reaches position i only through layer 0's attention: its window exactly.
  const oneLayer: LlamaConfig = { ...mistral, nLayers: 1, slidingWindow: { size: 3, fromLayer: 0 } };
  const weights = randomWeights(oneLayer, 47);
  const row = [5, 17, 3, 60, 0, 42, 9];
  const changedAt = (position: number) => row.map((id, t) => (t === position ? (id + 1) % oneLayer.vocabSize : id));

  it('lets query i see keys j with i − 3 < j ≤ i for a window of 3: the key at i − 3 is out, i − 2 is in', async () => {
    const session = await DecoderSession.load(oneLayer, weights, { threads: 1 });
    const logitsOf = async (tokens: number[]) => (await session.forward(prefill([tokens]))).logits;
    const base = await logitsOf(row);
    const outside = await logitsOf(changedAt(3)); // 6 − 3 = 3: not < 3
    const inside = await logitsOf(changedAt(4)); // 6 − 4 = 2 < 3
    assert.ok(maxAbsDiff(at(base, T, 0, 6), at(outside, T, 0, 6)) < 1e-6, 'position 6 saw the token at 3');
    assert.ok(maxAbsDiff(at(base, T, 0, 5), at(outside, T, 0, 5)) > 1e-3, 'position 5 did not see the token at 3');
    assert.ok(maxAbsDiff(at(base, T, 0, 6), at(inside, T, 0, 6)) > 1e-3, 'position 6 did not see the token at 4');
    // The reference draws the same line.
    const reference = (tokens: number[]) => at(referenceForward(oneLayer, weights, [tokens]).logits, T, 0, 6);
    assert.ok(maxAbsDiff(reference(row), reference(changedAt(3))) < 1e-6);
    assert.ok(maxAbsDiff(reference(row), reference(changedAt(4))) > 1e-3);
  });

  it('draws the same line in a cached decode step, where the cache still holds every earlier key', async () => {
    const session = await DecoderSession.load(oneLayer, weights, { threads: 1 });
    const decodeLast = async (tokens: number[]) => {
      const first = await session.forward(prefill([tokens.slice(0, 6)]));
      assert.equal(first.newKv['new.0.key']!.dims[2], 6);
      const step = await session.forward({
        ids: [[tokens[6]!]],
        positions: [[6]],
        attentionMask: [Array(7).fill(1)],
        cache: new RowCaches(oneLayer, 1).append(first.newKv).input(),
      });
      return step.logits;
    };
    const base = await decodeLast(row);
    assert.ok(maxAbsDiff(base, await decodeLast(changedAt(3))) < 1e-6);
    assert.ok(maxAbsDiff(base, await decodeLast(changedAt(4))) > 1e-3);
  });

  it("counts a row's own tokens: holes and spare capacity in the cache do not shrink the window", async () => {
    const session = await DecoderSession.load(mistral, randomWeights(mistral, 53), { threads: 1 });
    const full = (await session.forward(prefill(ids))).logits;
    const first = await session.forward(prefill(ids.map((r) => r.slice(0, 4))));
    // 9 columns: the 4 entries at 0, 2, 5, 6; garbage elsewhere, masked out. By column index,
    // column 2 would be out of a query at column 9's window of 3; by the row's own tokens it is in.
    const used = [0, 2, 5, 6];
    const cache = new RowCaches(mistral, B).append(first.newKv);
    cache.append((await session.forward(prefill(ids.map((r) => r.slice(1, 6))))).newKv);
    const index = ids.map((_, b) =>
      Array.from({ length: 9 }, (_, j) => cache.slot(b, used.includes(j) ? used.indexOf(j) : 4 + (j % 5))),
    );
    const next = await session.forward({
      ids: ids.map((r) => r.slice(4, 6)),
      positions: ids.map(() => [4, 5]),
      attentionMask: ids.map(() => [...Array.from({ length: 9 }, (_, j) => (used.includes(j) ? 1 : 0)), 1, 1]),
      cache: { blocks: cache.kv, index },
    });
    for (let b = 0; b < B; b++)
      for (const t of [4, 5]) assert.ok(maxAbsDiff(at(next.logits, 2, b, t - 4), at(full, T, b, t)) < 1e-4);
  });

  it("slides Qwen2's layers from max_window_layers on, and only those", () => {
    assert.deepEqual(
      [0, 1].map((layer) => attentionWindow(qwen2Sliding, layer)),
      [null, 3],
    );
    assert.deepEqual(
      [0, 1].map((layer) => attentionWindow(mistral, layer)),
      [3, 3],
    );
    const weights = randomWeights(qwen2, 59);
    const logits = (config: LlamaConfig) => referenceForward(config, weights, ids).logits;
    const fromFirst = logits({ ...qwen2, slidingWindow: { size: 3, fromLayer: 0 } });
    assert.ok(maxAbsDiff(logits(qwen2Sliding), logits(qwen2)) > 1e-3);
    assert.ok(maxAbsDiff(logits(qwen2Sliding), fromFirst) > 1e-3);
  });
});

describe('Llama 3 rope scaling', () => {
  it('rescales the inverse frequencies as _compute_llama3_parameters does (hd 8, θ 10⁴, factor 8, 1/4, 1024)', () => {
    // θ^(−2j/8) for j = 0..3: 1, 0.1, 0.01, 0.001; wavelengths 2π/f: 6.28, 62.8, 628.3, 6283.2.
    // Bands: < 1024/4 = 256 kept; > 1024/1 = 1024 divided by 8; in between the smooth ramp
    //   s = (1024 / wavelength − low) / (high − low), f' = (1 − s)·f/8 + s·f.
    const s = (1024 / ((2 * Math.PI) / 0.01) - 1) / (4 - 1); // (1.6297466 − 1) / 3 = 0.2099155
    const expected = [1, 0.1, ((1 - s) * 0.01) / 8 + s * 0.01, 0.001 / 8];
    assert.ok(Math.abs(expected[2]! - 0.00308676) < 1e-8); // 0.01 · (0.7900845 / 8 + 0.2099155)
    const config: LlamaConfig = {
      ...llama,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 1024 },
    };
    const relative = (a: ArrayLike<number>, b: number[]) => Math.max(...b.map((x, i) => Math.abs(a[i]! / x - 1)));
    assert.ok(relative(rotaryInverseFrequencies(config), expected) < 1e-6, `${rotaryInverseFrequencies(config)}`);
    assert.ok(relative(rotaryInverseFrequencies(llama), [1, 0.1, 0.01, 0.001]) < 1e-6);
  });

  it('keeps Llama 3.1 8B high frequencies and divides its lowest by 8 exactly (hd 128, θ 500000)', () => {
    const big: LlamaConfig = {
      ...llama,
      dModel: 4096,
      nHeads: 32,
      nKvHeads: 8,
      ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
    };
    const scaled = rotaryInverseFrequencies(big);
    const plain = rotaryInverseFrequencies({ ...big, ropeScaling: null });
    const wavelength = (f: number) => (2 * Math.PI) / f;
    let kept = 0;
    let divided = 0;
    plain.forEach((f, j) => {
      if (wavelength(f) < 8192 / 4) {
        assert.equal(scaled[j], f, `j ${j}`);
        kept++;
      } else if (wavelength(f) > 8192) {
        assert.equal(scaled[j], Math.fround(f / 8), `j ${j}`);
        divided++;
      } else assert.ok(scaled[j]! < f && scaled[j]! > f / 8, `j ${j} ramps between`);
    });
    assert.ok(kept > 0 && divided > 0 && kept + divided < 64, `${kept} kept, ${divided} divided`);
  });
});

describe('config.json import of the Llama family', () => {
  // A Qwen2.5-1.5B config.json, shrunk.
  const qwenJson = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_act: 'silu',
    hidden_size: 32,
    intermediate_size: 48,
    max_position_embeddings: 64,
    max_window_layers: 21,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    use_sliding_window: false,
    vocab_size: 61,
  };
  const mistralJson = {
    architectures: ['MistralForCausalLM'],
    model_type: 'mistral',
    hidden_act: 'silu',
    hidden_size: 32,
    intermediate_size: 48,
    max_position_embeddings: 64,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    sliding_window: 3,
    tie_word_embeddings: false,
    vocab_size: 61,
  };
  // A Llama 3.1 config.json (rope_scaling layout), shrunk.
  const llama31Json = {
    model_type: 'llama',
    hidden_act: 'silu',
    hidden_size: 32,
    intermediate_size: 48,
    max_position_embeddings: 64,
    num_attention_heads: 4,
    num_hidden_layers: 2,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-5,
    rope_scaling: {
      factor: 8.0,
      low_freq_factor: 1.0,
      high_freq_factor: 4.0,
      original_max_position_embeddings: 64,
      rope_type: 'llama3',
    },
    rope_theta: 10000.0,
    tie_word_embeddings: false,
    vocab_size: 61,
    attention_bias: false,
    mlp_bias: false,
    pretraining_tp: 1,
  };

  it('reads Qwen2 (q/k/v biases, θ 10⁶, tied; no window unless use_sliding_window)', () => {
    assert.deepEqual(decoderConfigFromHf(qwenJson), qwen2);
    const sliding = decoderConfigFromHf({
      ...qwenJson,
      use_sliding_window: true,
      sliding_window: 3,
      max_window_layers: 1,
    });
    assert.deepEqual(sliding, qwen2Sliding);
    // transformers' layer_types, when written out, says the same.
    const typed = { ...qwenJson, use_sliding_window: true, sliding_window: 3, max_window_layers: 28 };
    assert.deepEqual(decoderConfigFromHf({ ...typed, layer_types: ['full_attention', 'sliding_attention'] }), sliding);
    // Every layer at or past max_window_layers: none slides.
    assert.deepEqual(decoderConfigFromHf({ ...typed, max_window_layers: 2 }), qwen2);
    // transformers' Qwen2 default of 32 kv heads when the field is missing.
    const { num_key_value_heads: _kv, ...noKv } = qwenJson;
    assert.throws(() => decoderConfigFromHf(noKv), /nHeads 4 is not a multiple of nKvHeads 32/);
  });

  it('reads Mistral: sliding_window for every layer, null for none, 4096 when missing', () => {
    assert.deepEqual(decoderConfigFromHf(mistralJson), mistral);
    const { slidingWindow: _window, ...fullAttention } = mistral;
    assert.deepEqual(decoderConfigFromHf({ ...mistralJson, sliding_window: null }), fullAttention);
    const { sliding_window: _s, num_key_value_heads: _kv, ...bare } = mistralJson;
    const defaults = decoderConfigFromHf({ ...bare, num_attention_heads: 8 });
    assert.deepEqual(defaults.architecture === 'llama' && [defaults.slidingWindow, defaults.nKvHeads], [
      { size: 4096, fromLayer: 0 },
      8,
    ]);
  });

  it('reads Llama 3.x rope scaling from rope_scaling and from rope_parameters', () => {
    const expected: LlamaConfig = {
      ...llama,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 },
    };
    assert.deepEqual(decoderConfigFromHf(llama31Json), expected);
    const { rope_scaling: scaling, rope_theta: _t, ...current } = llama31Json;
    assert.deepEqual(
      decoderConfigFromHf({ ...current, rope_parameters: { ...scaling, rope_theta: 10000.0 } }),
      expected,
    );
    // original_max_position_embeddings defaults to max_position_embeddings, as transformers does.
    const { original_max_position_embeddings: _o, ...noOriginal } = scaling;
    const fallback = decoderConfigFromHf({ ...llama31Json, max_position_embeddings: 128, rope_scaling: noOriginal });
    assert.equal(fallback.architecture === 'llama' && fallback.ropeScaling?.originalMaxPositions, 128);
  });

  it('refuses each field it would compute differently, by name', () => {
    for (const [json, change, message] of [
      [
        llama31Json,
        { rope_scaling: { rope_type: 'yarn', factor: 4 } },
        /rope_scaling\.rope_type yarn is not supported/,
      ],
      [
        llama31Json,
        { rope_scaling: { type: 'dynamic', factor: 2 } },
        /rope_scaling\.rope_type dynamic is not supported/,
      ],
      [llama31Json, { rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling\.rope_type linear is not supported/],
      [
        llama31Json,
        { rope_scaling: null, rope_parameters: { rope_type: 'longrope', rope_theta: 10000 } },
        /rope_parameters\.rope_type longrope is not supported/,
      ],
      [qwenJson, { rope_scaling: { type: 'yarn', factor: 4 } }, /rope_scaling\.rope_type yarn is not supported/],
      [
        llama31Json,
        { rope_scaling: { rope_type: 'llama3', factor: 8 } },
        /rope_scaling\.low_freq_factor must be a number/,
      ],
      [llama31Json, { partial_rotary_factor: 0.5 }, /partial_rotary_factor 0\.5 is not supported/],
      [llama31Json, { attention_bias: true }, /attention_bias true is not supported/],
      [llama31Json, { mlp_bias: true }, /mlp_bias true is not supported/],
      [llama31Json, { hidden_act: 'gelu' }, /hidden_act gelu is not supported/],
      [mistralJson, { head_dim: 16 }, /head_dim 16 differs/],
      [
        mistralJson,
        { layer_types: ['sliding_attention', 'full_attention'] },
        /layer_types is not supported for mistral/,
      ],
      [
        qwenJson,
        { use_sliding_window: true, layer_types: ['sliding_attention', 'full_attention'] },
        /layer_types with full-attention layers after sliding ones/,
      ],
      [qwenJson, { use_sliding_window: 'yes' }, /use_sliding_window must be true or false/],
      [
        qwenJson,
        { use_sliding_window: true, sliding_window: 0, max_window_layers: 0 },
        /slidingWindow\.size must be a positive integer/,
      ],
      [{ ...qwenJson, model_type: 'qwen3' }, {}, /model_type "qwen3" is not supported \(gpt2, llama, qwen2, mistral\)/],
    ] as const) {
      assert.throws(() => decoderConfigFromHf({ ...json, ...change }), message);
    }
  });

  it('writes each family back as transformers would and imports it unchanged', async () => {
    for (const config of [qwen2, qwen2Sliding, mistral, llama3, { ...mistral, slidingWindow: null }]) {
      const dir = await mkdtemp(path.join(tmpdir(), 'tessera-arch-'));
      dirs.push(dir);
      const weights = randomWeights(config, 61);
      await writeHfCheckpoint(dir, config, weights);
      const json = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
      assert.equal(json.model_type, config.family ?? 'llama');
      const back = await importHfCheckpoint(dir);
      // A null window is read back as no window (the field left out, as for plain Llama).
      const { slidingWindow, ...withoutWindow } = config;
      assert.deepEqual(back.config, slidingWindow ? config : withoutWindow);
      assert.deepEqual(back.weights, weights);
    }
  });
});

describe('Qwen2 training graph', () => {
  const config: LlamaConfig = { ...qwen2Sliding, vocabSize: 29, dModel: 16, ffnDim: 24, maxPositions: 8 };
  const rows = [
    [3, 17, 4, 28, 0, 9],
    [1, 2, 3, 5, 8, 13],
  ];
  const targets = rows.map((row) => row.map((id) => (id * 5 + 2) % 29));
  // Packed rows: two documents each, positions restarting, so windows and segments meet.
  const packing = {
    positions: [
      [0, 1, 2, 3, 0, 1],
      [0, 1, 0, 1, 2, 3],
    ],
    segments: [
      [0, 0, 0, 0, 1, 1],
      [0, 0, 1, 1, 1, 1],
    ],
  };
  const feeds = () => ({
    input_ids: int64Tensor(rows.flat(), [2, 6]),
    position_ids: int64Tensor(packing.positions.flat(), [2, 6]),
    segment_ids: int64Tensor(packing.segments.flat(), [2, 6]),
    attention_mask: int64Tensor(
      rows.flat().map(() => 1),
      [2, 6],
    ),
    target_ids: int64Tensor(targets.flat(), [2, 6]),
    loss_mask: float32Tensor(new Float32Array(12).fill(1), [2, 6]),
  });
  const referenceLoss = (weights: DecoderWeights) =>
    -referenceTokenLogprobs(referenceForward(config, weights, rows, undefined, packing).logits, targets, 29).reduce(
      (a, b) => a + b,
      0,
    );

  it('trains every weight of packed rows, biases included: the loss and a bias gradient match the reference', async () => {
    const weights = randomWeights(config, 67);
    const graph = buildTrainingGraph(config, weights, { kind: 'all' });
    const biasName = 'layers.1.self_attn.k_proj.bias';
    assert.ok(graph.parameters.some((p) => p.name === biasName));
    const session = await createSession(graph.model, { threads: 1 });
    const out = await session.run({
      ...feeds(),
      ...Object.fromEntries(graph.parameters.map((p) => [p.name, float32Tensor(weights.get(p.name)!, p.shape)])),
    });
    const loss = (out.loss_sum!.data as Float32Array)[0]!;
    assert.ok(
      Math.abs(loss - referenceLoss(weights)) < 1e-3 * Math.max(1, loss),
      `${loss} vs ${referenceLoss(weights)}`,
    );
    // ⟨∇L, v⟩ for the bias against the reference's central difference along v.
    const grad = out[gradName(biasName)]!.data as Float32Array;
    const direction = randomArray(seededRandom(71), grad.length, 1);
    const shifted = (sign: number) =>
      new Map(weights).set(
        biasName,
        weights.get(biasName)!.map((x, i) => x + sign * 1e-2 * direction[i]!),
      );
    const numeric = (referenceLoss(shifted(1)) - referenceLoss(shifted(-1))) / 2e-2;
    const analytic = grad.reduce((sum, g, i) => sum + g * direction[i]!, 0);
    assert.ok(Math.abs(analytic) > 1e-3, 'the bias gradient vanished: the check would be vacuous');
    assert.ok(Math.abs(numeric - analytic) <= 1e-2 * Math.max(1, Math.abs(analytic)), `${numeric} vs ${analytic}`);
  });
});
