import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readSafetensors, toFloat32, writeSafetensors } from '../format/safetensors.js';
import type { DecoderConfig } from '../model/decoder-config.js';
import { matmul } from '../reference/reference-ops.js';
import { randomArray, seededRandom } from '../testing/random.js';
import { adapterMismatches, type LoraAdapter } from './lora-adapter.js';
import { peftScaling, readPeftAdapter, writePeftAdapter } from './peft-format.js';
import { slotFactors } from './slot-factors.js';

const config: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: 50,
  dModel: 8,
  nLayers: 2,
  nHeads: 2,
  maxPositions: 16,
  normEps: 1e-5,
};

/** A PEFT file as PEFT lays it out, built by hand (not by our writer) so reading is checked independently. */
function handMadePeftFile(): Uint8Array {
  // lora_A [r=2, in=8] and lora_B [out=24, r=2] of h.0.attn.c_attn, values 0..n-1.
  const a = Float32Array.from({ length: 16 }, (_, i) => i);
  const b = Float32Array.from({ length: 48 }, (_, i) => i / 10);
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight': {
      dtype: 'F32',
      shape: [2, 8],
      data_offsets: [0, 64],
    },
    'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight': {
      dtype: 'F32',
      shape: [24, 2],
      data_offsets: [64, 256],
    },
  });
  const headerBytes = new TextEncoder().encode(header);
  const file = new Uint8Array(8 + headerBytes.length + 256);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  file.set(new Uint8Array(a.buffer), 8 + headerBytes.length);
  file.set(new Uint8Array(b.buffer), 8 + headerBytes.length + 64);
  return file;
}

function randomAdapter(seed: number, rank = 3, alpha = 6): LoraAdapter {
  const random = seededRandom(seed);
  const factors = new Map();
  for (let layer = 0; layer < config.nLayers; layer++) {
    factors.set(`h.${layer}.attn.c_attn`, {
      a: randomArray(random, 8 * rank, 1),
      b: randomArray(random, rank * 24, 1),
    });
    factors.set(`h.${layer}.mlp.c_proj`, { a: randomArray(random, 32 * rank, 1), b: randomArray(random, rank * 8, 1) });
  }
  return { rank, alpha, targetModules: ['attn.c_attn', 'mlp.c_proj'], factors };
}

describe('safetensors', () => {
  it('round-trips tensors and metadata with an 8-byte aligned header', () => {
    const data = Float32Array.of(1.5, -2, 3.25, 0, 7, 8);
    const bytes = writeSafetensors(new Map([['w', { dtype: 'F32', shape: [2, 3], data }]]), { format: 'pt' });
    assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
    const { tensors, metadata } = readSafetensors(bytes);
    assert.deepEqual(tensors.get('w')!.shape, [2, 3]);
    assert.deepEqual(Array.from(tensors.get('w')!.data as Float32Array), Array.from(data));
    assert.deepEqual(metadata, { format: 'pt' });
  });

  it('widens F16 and BF16 tensors to fp32 exactly', () => {
    // 1, -2, 0.5, 65504 (largest half), 2^-24 (smallest subnormal), -0, +inf
    const half = Uint16Array.of(0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00);
    assert.deepEqual(Array.from(toFloat32({ dtype: 'F16', shape: [7], data: half })), [
      1,
      -2,
      0.5,
      65504,
      2 ** -24,
      -0,
      Infinity,
    ]);
    const bf16 = Uint16Array.of(0x3f80, 0xc040, 0x3dcd);
    assert.deepEqual(Array.from(toFloat32({ dtype: 'BF16', shape: [3], data: bf16 })), [1, -3, 0.10009765625]);
  });

  it('refuses truncated or inconsistent files with a reason', () => {
    assert.throws(() => readSafetensors(new Uint8Array(4)), /shorter/);
    const bytes = writeSafetensors(new Map([['w', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]]));
    assert.throws(() => readSafetensors(bytes.subarray(0, bytes.length - 4)), /does not fit/);
  });
});

describe('PEFT adapter format', () => {
  it("reads PEFT's layout: lora_A [r, in] and lora_B [out, r], transposed to A [in, r] and B [r, out]", () => {
    const adapter = readPeftAdapter({
      config: { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['c_attn'] },
      weights: handMadePeftFile(),
    });
    const { a, b } = adapter.factors.get('h.0.attn.c_attn')!;
    assert.equal(adapter.rank, 2);
    assert.deepEqual(adapter.targetModules, ['attn.c_attn']);
    // A[i][j] = lora_A[j][i] = j*8 + i
    assert.equal(a[3 * 2 + 1], 1 * 8 + 3);
    // B[j][o] = lora_B[o][j] = (o*2 + j) / 10
    assert.ok(Math.abs(b[1 * 24 + 5]! - (5 * 2 + 1) / 10) < 1e-6);
    assert.deepEqual(adapterMismatches(adapter, config), []);
  });

  it("reads α as PEFT does: lora_alpha defaults to 8, rsLoRA's α/√r is folded into the engine's α/r", () => {
    const read = (extra: Record<string, unknown>) =>
      readPeftAdapter({ config: { peft_type: 'LORA', r: 2, ...extra }, weights: handMadePeftFile() });
    assert.equal(read({}).alpha, 8, 'PEFT default, not r');
    assert.equal(read({ lora_alpha: 4 }).alpha, 4);
    // Hand-computed: rsLoRA scale 4/√2 = 2.828…; as α/r with r = 2 that is α = 4√2.
    const rs = read({ lora_alpha: 4, use_rslora: true });
    assert.ok(Math.abs(rs.alpha / rs.rank - 4 / Math.SQRT2) < 1e-12);
    assert.deepEqual(peftScaling({ r: 16, lora_alpha: 16, use_rslora: true }), { rank: 16, alpha: 64 });
    assert.equal(read({ lora_alpha: 4, use_rslora: false }).alpha, 4);
  });

  it('refuses, by name, every field that changes the maths and is not implemented', () => {
    for (const [field, value] of [
      ['alpha_pattern', { c_attn: 32 }],
      ['rank_pattern', { c_attn: 4 }],
      ['use_dora', true],
      ['modules_to_save', ['lm_head']],
      ['lora_bias', true],
    ] as const) {
      assert.throws(
        () => readPeftAdapter({ config: { peft_type: 'LORA', r: 2, [field]: value }, weights: handMadePeftFile() }),
        new RegExp(`adapter_config.json: ${field} is not supported`),
      );
    }
    // Their defaults (empty, false, null) are PEFT's own plain LoRA: read.
    const defaults = { alpha_pattern: {}, rank_pattern: {}, use_dora: false, modules_to_save: null, lora_bias: false };
    assert.equal(peftScaling({ r: 2, lora_alpha: 4, ...defaults }).alpha, 4);
  });

  it('writes what it reads back, bit for bit, with a PEFT adapter_config', () => {
    const adapter = randomAdapter(3);
    const files = writePeftAdapter(adapter, 'tessera/demo');
    assert.equal(files.config.peft_type, 'LORA');
    // attn.c_attn and mlp.c_proj: by suffix, PEFT would wrap attn.c_proj too, so the targets are
    // a pattern naming exactly these module paths (PEFT full-matches a string target_modules).
    const pattern = new RegExp(`^(?:${String(files.config.target_modules)})$`);
    const paths = Array.from({ length: config.nLayers }, (_, i) => i).flatMap((layer) =>
      ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((m) => `transformer.h.${layer}.${m}`),
    );
    assert.deepEqual(
      paths.filter((path) => pattern.test(path)),
      [...adapter.factors.keys()].map((key) => `transformer.${key}`).sort(),
    );
    assert.equal(files.config.layers_to_transform, undefined);
    const back = readPeftAdapter({ config: JSON.parse(JSON.stringify(files.config)), weights: files.weights });
    assert.equal(back.rank, adapter.rank);
    assert.equal(back.alpha, adapter.alpha);
    for (const [key, { a, b }] of adapter.factors) {
      assert.deepEqual(back.factors.get(key)!.a, a);
      assert.deepEqual(back.factors.get(key)!.b, b);
    }
    assert.deepEqual(writePeftAdapter(back, 'tessera/demo').weights, files.weights);
  });

  it('names the adapted layers in layers_to_transform, so PEFT wraps only those', () => {
    // Modules × layers: suffixes and layers say it (one module here, so no suffix is shared).
    const full = randomAdapter(4);
    const adapter = {
      ...full,
      targetModules: ['attn.c_attn' as const],
      factors: new Map([...full.factors].filter(([key]) => key.endsWith('attn.c_attn'))),
    };
    assert.deepEqual(writePeftAdapter(adapter, 'tessera/demo').config.target_modules, ['c_attn']);
    const all = [...new Set([...adapter.factors.keys()].map((key) => Number(key.split('.')[1])))];
    assert.deepEqual(writePeftAdapter(adapter, 'tessera/demo').config.layers_to_transform, all);
    const firstOnly = { ...adapter, factors: new Map([...adapter.factors].filter(([key]) => key.startsWith('h.0.'))) };
    const files = writePeftAdapter(firstOnly, 'tessera/demo');
    assert.deepEqual(files.config.layers_to_transform, [0]);
    assert.equal(files.config.layers_pattern, 'h');
    const back = readPeftAdapter({ config: JSON.parse(JSON.stringify(files.config)), weights: files.weights });
    assert.deepEqual([...back.factors.keys()], [...firstOnly.factors.keys()]);
  });

  it("round-trips a Llama adapter under PEFT's model.layers names, and refuses it on a GPT-2 base", () => {
    const llama: DecoderConfig = {
      architecture: 'llama',
      vocabSize: 50,
      dModel: 8,
      nLayers: 1,
      nHeads: 2,
      nKvHeads: 1,
      ffnDim: 12,
      maxPositions: 16,
      normEps: 1e-6,
      ropeTheta: 10000,
      tieEmbeddings: true,
    };
    const random = seededRandom(4);
    const adapter: LoraAdapter = {
      rank: 2,
      alpha: 4,
      targetModules: ['self_attn.k_proj', 'mlp.down_proj'],
      factors: new Map([
        ['layers.0.self_attn.k_proj', { a: randomArray(random, 8 * 2, 1), b: randomArray(random, 2 * 4, 1) }],
        ['layers.0.mlp.down_proj', { a: randomArray(random, 12 * 2, 1), b: randomArray(random, 2 * 8, 1) }],
      ]),
    };
    const files = writePeftAdapter(adapter, 'tiny-llama');
    assert.equal(files.config.fan_in_fan_out, false);
    assert.deepEqual(files.config.target_modules, ['k_proj', 'down_proj']);
    const names = [...readSafetensors(files.weights).tensors.keys()];
    assert.ok(names.includes('base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight'), names.join());
    const back = readPeftAdapter(files);
    assert.deepEqual(back, adapter);
    assert.deepEqual(adapterMismatches(back, llama), []);
    assert.match(adapterMismatches(back, config)[0]!, /not a projection of this gpt2 model/);
  });

  it('names every mismatch with the base model', () => {
    const adapter = randomAdapter(5);
    adapter.factors.set('h.7.attn.c_attn', adapter.factors.get('h.0.attn.c_attn')!);
    adapter.factors.set('h.0.attn.q_proj', adapter.factors.get('h.0.attn.c_attn')!);
    const problems = adapterMismatches(adapter, { ...config, dModel: 16 });
    assert.ok(problems.some((p) => p.startsWith('h.7.attn.c_attn: layer 7 does not exist')));
    assert.ok(problems.some((p) => p.startsWith('h.0.attn.q_proj: not a projection')));
    assert.ok(problems.some((p) => /h\.0\.attn\.c_attn: lora_A holds 24 values, expected 3×16/.test(p)));
    assert.throws(
      () => readPeftAdapter({ config: { peft_type: 'IA3', r: 2 }, weights: handMadePeftFile() }),
      /only LORA/,
    );
  });

  it('puts an adapter in a wider slot without changing its product: α/r folded into B, rank zero-padded', () => {
    const adapter = randomAdapter(9, 3, 6);
    const { a, b } = adapter.factors.get('h.1.attn.c_attn')!;
    const slot = slotFactors(adapter, 'h.1.attn.c_attn', 8, 24, 8);
    const expected = matmul(a, b, 8, 3, 24).map((v) => v * (6 / 3));
    const actual = matmul(slot.a, slot.b, 8, 8, 24);
    for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(expected[i]! - actual[i]!) < 1e-5);
    assert.ok(slotFactors(adapter, 'h.0.attn.c_proj', 8, 8, 8).a.every((v) => v === 0));
    assert.throws(() => slotFactors(adapter, 'h.1.attn.c_attn', 8, 24, 2), /exceeds the pool's rank/);
  });
});
