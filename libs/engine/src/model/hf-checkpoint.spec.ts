import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readSafetensors, toFloat32, writeSafetensors, type NamedTensor } from '../format/safetensors.js';
import { referenceForward } from '../reference/reference-decoder.js';
import { BatchScheduler } from '../serving/batch-scheduler.js';
import { maxAbsDiff, randomWeights } from '../testing/random.js';
import { bpeTokenizerJson } from '../testing/tokenizer-files.js';
import { weightShapes, type DecoderConfig, type DecoderWeights } from './decoder-config.js';
import { DecoderSession } from './decoder-session.js';
import { importHfCheckpoint, writeHfCheckpoint } from './hf-checkpoint.js';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tessera-hf-'));
  dirs.push(dir);
  return dir;
}

const VOCAB = 256 + 5 + 1;
const CHAT_TEMPLATE =
  "{% for m in messages %}{{ '[' + m['role'] + '] ' + m['content'] + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '[assistant] ' }}{% endif %}";

/** fp32 → bfloat16 bits by truncation, the way a bf16 checkpoint stores weights. */
function toBf16(data: Float32Array): Uint16Array {
  return Uint16Array.from(
    new Uint32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
    (bits) => bits >>> 16,
  );
}

/** Writes a checkpoint folder by hand with Hugging Face's names and files (not through our writer). */
async function writeByHand(
  dir: string,
  hfConfig: Record<string, unknown>,
  tensors: Map<string, NamedTensor>,
): Promise<void> {
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(hfConfig));
  await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(bpeTokenizerJson()));
  await writeFile(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>', chat_template: CHAT_TEMPLATE }),
  );
}

const gpt2: DecoderConfig = {
  architecture: 'gpt2',
  vocabSize: VOCAB,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  maxPositions: 32,
  normEps: 1e-5,
  gelu: 'tanh',
};
const llama: DecoderConfig = {
  architecture: 'llama',
  vocabSize: VOCAB,
  dModel: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  ffnDim: 40,
  maxPositions: 128,
  normEps: 1e-6,
  ropeTheta: 500000,
  tieEmbeddings: false,
};

/** The model's logits through the graph against the reference on the imported weights. */
async function checkForward(config: DecoderConfig, weights: DecoderWeights): Promise<void> {
  const ids = [[3, 200, 17, 256, 261, 9]];
  const session = await DecoderSession.load(config, weights, { threads: 1 });
  const { logits } = await session.forward({
    ids,
    positions: [[0, 1, 2, 3, 4, 5]],
    attentionMask: [[1, 1, 1, 1, 1, 1]],
  });
  const diff = maxAbsDiff(logits, referenceForward(config, weights, ids).logits);
  assert.ok(diff < 1e-4, `max abs diff ${diff}`);
}

describe('Hugging Face checkpoint import', () => {
  it('imports a GPT-2 checkpoint: transformer.* names, Conv1D layout, tanh GELU, mask buffers ignored, tied head', async () => {
    const dir = await tempDir();
    const weights = randomWeights(gpt2, 31);
    const tensors = new Map<string, NamedTensor>();
    for (const [name, shape] of weightShapes(gpt2))
      tensors.set(`transformer.${name}`, { dtype: 'F32', shape, data: weights.get(name)! });
    for (let i = 0; i < gpt2.nLayers; i++)
      tensors.set(`transformer.h.${i}.attn.bias`, {
        dtype: 'F32',
        shape: [1, 1, 32, 32],
        data: new Float32Array(32 * 32).fill(1),
      });
    tensors.set('lm_head.weight', { dtype: 'F32', shape: [VOCAB, 32], data: weights.get('wte.weight')! });
    await writeByHand(
      dir,
      {
        model_type: 'gpt2',
        vocab_size: VOCAB,
        n_embd: 32,
        n_layer: 2,
        n_head: 4,
        n_positions: 32,
        layer_norm_epsilon: 1e-5,
        activation_function: 'gelu_new',
      },
      tensors,
    );

    const checkpoint = await importHfCheckpoint(dir);
    assert.deepEqual(checkpoint.config, gpt2);
    for (const [name, data] of weights) assert.deepEqual(checkpoint.weights.get(name), data, name);
    await checkForward(checkpoint.config, checkpoint.weights);

    const tokenizer = checkpoint.tokenizer!;
    const hello = tokenizer.encode('hello world');
    assert.equal(hello.length, 6); // hell·o·Ġw·or·l·d
    assert.equal(tokenizer.decode(hello), 'hello world');
    assert.equal(tokenizer.endOfText, 261);
    assert.equal(tokenizer.vocabSize, VOCAB);
    assert.equal(
      tokenizer.chatTemplate.render([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }),
      '[user] hi<|endoftext|>[assistant] ',
    );
  });

  it('imports a Llama checkpoint: model.* names, Linear layout, grouped-query attention, BF16 widened, untied head', async () => {
    const dir = await tempDir();
    const weights = randomWeights(llama, 32);
    const tensors = new Map<string, NamedTensor>();
    for (const [name, shape] of weightShapes(llama)) {
      tensors.set(name === 'lm_head.weight' ? name : `model.${name}`, {
        dtype: 'BF16',
        shape,
        data: toBf16(weights.get(name)!),
      });
    }
    tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', {
      dtype: 'F32',
      shape: [4],
      data: new Float32Array(4),
    });
    await writeByHand(
      dir,
      {
        model_type: 'llama',
        vocab_size: VOCAB,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        intermediate_size: 40,
        max_position_embeddings: 128,
        rms_norm_eps: 1e-6,
        rope_theta: 500000,
        hidden_act: 'silu',
        tie_word_embeddings: false,
        torch_dtype: 'bfloat16',
      },
      tensors,
    );

    const checkpoint = await importHfCheckpoint(dir);
    assert.deepEqual(checkpoint.config, llama);
    const q = checkpoint.weights.get('layers.1.self_attn.q_proj.weight')!;
    assert.deepEqual(
      q,
      toFloat32({ dtype: 'BF16', shape: [32, 32], data: toBf16(weights.get('layers.1.self_attn.q_proj.weight')!) }),
    );
    assert.ok(maxAbsDiff(q, weights.get('layers.1.self_attn.q_proj.weight')!) < 1e-2); // bf16 keeps ~3 digits
    await checkForward(checkpoint.config, checkpoint.weights);

    // The imported model serves through the scheduler with its own tokenizer.
    const session = await DecoderSession.load(checkpoint.config, checkpoint.weights, { threads: 1 });
    const scheduler = new BatchScheduler(session, null, checkpoint.tokenizer!, {
      maxBatch: 4,
      prefillChunk: 16,
      maxBatchTokens: 64,
    });
    const pieces: string[] = [];
    const result = await scheduler.generate({
      prompt: checkpoint.tokenizer!.encode('hello'),
      maxTokens: 5,
      onToken: (_, text) => pieces.push(text),
    });
    assert.equal(pieces.join(''), result.text);
    assert.equal(result.text, checkpoint.tokenizer!.decode(result.tokens));
  });

  it('writes checkpoints that transformers would read and imports them back unchanged', async () => {
    for (const config of [gpt2, { ...llama, tieEmbeddings: true }] satisfies DecoderConfig[]) {
      const dir = await tempDir();
      const weights = randomWeights(config, 33);
      await writeHfCheckpoint(dir, config, weights);
      const names = [...readSafetensors(await readFile(path.join(dir, 'model.safetensors'))).tensors.keys()];
      assert.ok(
        names.every((name) => name.startsWith(config.architecture === 'gpt2' ? 'transformer.' : 'model.')),
        names.join(),
      );
      const back = await importHfCheckpoint(dir);
      assert.deepEqual(back.config, config);
      assert.deepEqual(back.weights, weights);
      assert.equal(back.tokenizer, null);
    }
  });

  it("reads rope_theta from transformers' current rope_parameters layout, and refuses what it cannot compute", async () => {
    const dir = await tempDir();
    await writeHfCheckpoint(dir, llama, randomWeights(llama, 35));
    const { rope_theta: _old, ...config } = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    const withRope = async (extra: Record<string, unknown>) => {
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...config, ...extra }));
      return importHfCheckpoint(dir);
    };
    const current = await withRope({ rope_parameters: { rope_type: 'default', rope_theta: 500000 } });
    assert.equal(current.config.architecture === 'llama' && current.config.ropeTheta, 500000);
    // llama3 scaling is computed (architectures.spec.ts), but only with all of its fields.
    await assert.rejects(
      withRope({ rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 32 } }),
      /rope_parameters\.low_freq_factor must be a number/,
    );
    await assert.rejects(
      withRope({ rope_theta: 10000, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }),
      /rope_theta and rope_parameters\.rope_theta differ/,
    );
    await assert.rejects(
      withRope({ rope_scaling: { rope_type: 'yarn', factor: 32 } }),
      /rope_scaling\.rope_type yarn is not supported/,
    );
  });

  it('names what does not fit: missing and misshapen tensors, unsupported configs', async () => {
    const dir = await tempDir();
    const weights = randomWeights(gpt2, 34);
    await writeHfCheckpoint(dir, gpt2, weights);
    const { tensors } = readSafetensors(await readFile(path.join(dir, 'model.safetensors')));
    tensors.delete('transformer.h.1.mlp.c_fc.bias');
    tensors.set('transformer.h.0.attn.c_proj.weight', {
      dtype: 'F32',
      shape: [16, 64],
      data: new Float32Array(16 * 64),
    });
    tensors.set('transformer.h.0.attn.q_proj.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await writeFile(path.join(dir, 'model.safetensors'), writeSafetensors(tensors));
    await assert.rejects(importHfCheckpoint(dir), (error: Error) => {
      assert.match(error.message, /missing tensor h\.1\.mlp\.c_fc\.bias/);
      assert.match(error.message, /transformer\.h\.0\.attn\.c_proj\.weight: shape \[16,64\], expected \[32,32\]/);
      assert.match(error.message, /unexpected tensor transformer\.h\.0\.attn\.q_proj\.weight/);
      return true;
    });
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    for (const [change, message] of [
      [{ model_type: 'bert' }, /model_type "bert" is not supported/],
      [{ n_head: 5 }, /not divisible by nHeads 5/],
      [{ activation_function: 'relu' }, /activation_function relu/],
      [{ scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx is not supported/],
      [{ scale_attn_weights: false }, /scale_attn_weights is not supported/],
    ] as const) {
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...config, ...change }));
      await assert.rejects(importHfCheckpoint(dir), message);
    }
  });
});
