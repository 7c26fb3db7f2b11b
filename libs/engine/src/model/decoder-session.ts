import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { createSession, float32Tensor, int64Tensor, type SessionOptions } from '../graph/onnx-session.js';
import { headDim, kvHeads, type DecoderConfig } from './decoder-config.js';
import { buildForwardGraph, cacheName, type BaseWeights, type ForwardGraphOptions } from './decoder.js';
import { WeightFile } from './weight-file.js';
import type { KvBlocks } from '../serving/kv-blocks.js';

/** This pass's keys and values by `new.<i>.key|value` name, each [B, KV, T, hd]. */
export type NewKv = Record<string, OrtTensor>;

export interface ForwardInput {
  /** [B][T] new tokens of each row. */
  ids: number[][];
  /** [B][T] absolute position of each new token. */
  positions: number[][];
  /** [B][P+T] 1 where a (past or new) token may be attended to, 0 for padding. */
  attentionMask: number[][];
  /** The rows' past: the block pools and, per row, the pool slot of each of its P past columns. None: a fresh prefill. */
  cache?: { blocks: KvBlocks; index: number[][] };
  /** [B][L] positions of this pass whose logits to return; default every position. */
  logitPositions?: number[][];
  /** LoRA inputs (slots, gates, pools) by graph input name, when built with LoRA. */
  lora?: Record<string, OrtTensor>;
  /** [B][T] the token whose log-probability to return at each position (scoring graphs). */
  targets?: number[][];
}

export interface ForwardOutput {
  /** [B, L, vocab]: at the positions asked for (every position by default). */
  logits: Float32Array;
  newKv: NewKv;
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

  /** The cache feeds of a fresh prefill of `batch` rows: empty pools, no past columns. */
  private noPast(batch: number): Record<string, OrtTensor> {
    const feeds: Record<string, OrtTensor> = { kv_index: int64Tensor([], [batch, 0]) };
    for (let layer = 0; layer < this.config.nLayers; layer++)
      for (const part of ['key', 'value'] as const)
        feeds[cacheName('past', layer, part)] = float32Tensor(new Float32Array(0), [
          kvHeads(this.config),
          0,
          headDim(this.config),
        ]);
    return feeds;
  }

  async forward(input: ForwardInput): Promise<ForwardOutput> {
    const batch = input.ids.length;
    const tokens = input.ids[0]?.length ?? 0;
    if (this.graph.scoring && !input.targets) throw new Error('this session scores: pass targets');
    const feeds: Record<string, OrtTensor> = {
      input_ids: int64Tensor(input.ids.flat(), [batch, tokens]),
      position_ids: int64Tensor(input.positions.flat(), [batch, tokens]),
      attention_mask: int64Tensor(input.attentionMask.flat(), [batch, input.attentionMask[0]?.length ?? 0]),
      ...(input.cache ? input.cache.blocks.feeds(input.cache.index) : this.noPast(batch)),
      logit_index: int64Tensor((input.logitPositions ?? input.ids.map((row) => row.map((_, t) => t))).flat(), [
        batch,
        input.logitPositions?.[0]?.length ?? tokens,
      ]),
      ...input.lora,
      ...(this.graph.scoring ? { target_ids: int64Tensor(input.targets!.flat(), [batch, tokens]) } : {}),
    };
    const outputs = await this.session.run(feeds);
    const newKv: NewKv = {};
    for (let layer = 0; layer < this.config.nLayers; layer++)
      for (const part of ['key', 'value'] as const)
        newKv[cacheName('new', layer, part)] = outputs[cacheName('new', layer, part)]!;
    return {
      logits: outputs.logits!.data as Float32Array,
      newKv,
      pooledHidden: outputs.pooled_hidden!.data as Float32Array,
      ...(outputs.token_logprobs ? { tokenLogprobs: outputs.token_logprobs.data as Float32Array } : {}),
      ...(outputs.mean_gates ? { meanGates: outputs.mean_gates.data as Float32Array } : {}),
    };
  }
}
