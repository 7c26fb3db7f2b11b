import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { createSession, float32Tensor, int64Tensor, type SessionOptions } from '../graph/onnx-session.js';
import { headDim, kvHeads, type DecoderConfig } from './decoder-config.js';
import { buildForwardGraph, cacheName, type BaseWeights, type ForwardGraphOptions } from './decoder.js';
import { WeightFile } from './weight-file.js';

/** The key/value cache of every layer: tensors [B, KV, P, hd] by `past.<i>.key|value` name. */
export type KvCache = Record<string, OrtTensor>;

export interface ForwardInput {
  /** [B][T] new tokens of each row. */
  ids: number[][];
  /** [B][T] absolute position of each new token. */
  positions: number[][];
  /** [B][P+T] 1 where a (past or new) token may be attended to, 0 for padding. */
  attentionMask: number[][];
  past?: KvCache;
  /** LoRA inputs (slots, gates, pools) by graph input name, when built with LoRA. */
  lora?: Record<string, OrtTensor>;
  /** [B][T] the token whose log-probability to return at each position (scoring graphs). */
  targets?: number[][];
}

export interface ForwardOutput {
  /** [B, T, vocab] */
  logits: Float32Array;
  /** This pass's keys and values, [B, KV, T, hd], by the `past.<i>.key|value` name they extend. */
  newKv: KvCache;
  /** [B, d]: mean final hidden state over each row's unmasked new tokens. */
  pooledHidden: Float32Array;
  /** [B, T]: log p(target) at each position, when the graph scores. */
  tokenLogprobs?: Float32Array;
  /** [B, T, k]: the gates each token got, averaged over the adapted projections (graphs with token routing). */
  meanGates?: Float32Array;
}

/** One loaded forward graph and the bookkeeping of its inputs and outputs. */
export class DecoderSession {
  private constructor(
    readonly config: DecoderConfig,
    private readonly session: InferenceSession,
    readonly graph: ForwardGraphOptions,
  ) {}

  static async load(config: DecoderConfig, weights: BaseWeights, options: SessionOptions & ForwardGraphOptions = {}) {
    const graph: ForwardGraphOptions = {
      ...(options.lora ? { lora: options.lora } : {}),
      ...(options.scoring ? { scoring: true } : {}),
      ...(options.quantizedAccuracy !== undefined ? { quantizedAccuracy: options.quantizedAccuracy } : {}),
    };
    const file = weights instanceof WeightFile ? weights : null;
    const session = await createSession(buildForwardGraph(config, weights, graph), {
      ...options,
      ...(file ? { externalDataDir: file.dir } : {}),
      // MatMulNBits runs only from its packed form: quantized sessions always pack.
      shareWeights: Boolean(options.shareWeights && file?.precision === 'fp32'),
    });
    return new DecoderSession(config, session, graph);
  }

  /** Frees the native session (its weights live outside V8's heap, so GC does not see their size). */
  release(): Promise<void> {
    return this.session.release();
  }

  /** A cache with no tokens yet, for a fresh prefill of `batch` rows. */
  emptyCache(batch: number): KvCache {
    const cache: KvCache = {};
    for (let layer = 0; layer < this.config.nLayers; layer++) {
      for (const part of ['key', 'value'] as const) {
        cache[cacheName('past', layer, part)] = float32Tensor(new Float32Array(0), [
          batch,
          kvHeads(this.config),
          0,
          headDim(this.config),
        ]);
      }
    }
    return cache;
  }

  /** past ⧺ new along the sequence axis: the cache for the next pass (a plain copy; the scheduler keeps its own). */
  extendCache(past: KvCache, newKv: KvCache): KvCache {
    const cache: KvCache = {};
    for (const [name, added] of Object.entries(newKv)) {
      const old = past[name]!;
      const [batch, heads, p, hd] = old.dims as number[];
      const t = added.dims[2]!;
      const data = new Float32Array(batch! * heads! * (p! + t) * hd!);
      const a = old.data as Float32Array;
      const b = added.data as Float32Array;
      for (let row = 0; row < batch! * heads!; row++) {
        data.set(a.subarray(row * p! * hd!, (row + 1) * p! * hd!), row * (p! + t) * hd!);
        data.set(b.subarray(row * t * hd!, (row + 1) * t * hd!), (row * (p! + t) + p!) * hd!);
      }
      cache[name] = float32Tensor(data, [batch!, heads!, p! + t, hd!]);
    }
    return cache;
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const batch = input.ids.length;
    const tokens = input.ids[0]?.length ?? 0;
    if (this.graph.scoring && !input.targets) throw new Error('this session scores: pass targets');
    const feeds: Record<string, OrtTensor> = {
      input_ids: int64Tensor(input.ids.flat(), [batch, tokens]),
      position_ids: int64Tensor(input.positions.flat(), [batch, tokens]),
      attention_mask: int64Tensor(input.attentionMask.flat(), [batch, input.attentionMask[0]?.length ?? 0]),
      ...(input.past ?? this.emptyCache(batch)),
      ...input.lora,
      ...(this.graph.scoring ? { target_ids: int64Tensor(input.targets!.flat(), [batch, tokens]) } : {}),
    };
    const outputs = await this.session.run(feeds);
    const newKv: KvCache = {};
    for (let layer = 0; layer < this.config.nLayers; layer++) {
      for (const part of ['key', 'value'] as const) {
        newKv[cacheName('past', layer, part)] = outputs[cacheName('new', layer, part)]!;
      }
    }
    return {
      logits: outputs.logits!.data as Float32Array,
      newKv,
      pooledHidden: outputs.pooled_hidden!.data as Float32Array,
      ...(outputs.token_logprobs ? { tokenLogprobs: outputs.token_logprobs.data as Float32Array } : {}),
      ...(outputs.mean_gates ? { meanGates: outputs.mean_gates.data as Float32Array } : {}),
    };
  }
}
