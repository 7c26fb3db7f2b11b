import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { headDim, kvHeads } from '../model/decoder-config.js';
import { cacheName } from '../model/decoder.js';
import type { DecoderSession, KvCache } from '../model/decoder-session.js';
import { seededRandom } from '../seeded-random.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { sampleToken, type SamplingParams } from './sampling.js';
import type { SlotPool } from './slot-pool.js';

export interface GenerateRequest {
  prompt: number[];
  /**
   * The adapter to run on; none = the base model (slot 0). `load` is called once, when the
   * request arrives (from a host cache or storage); the request waits for it without holding
   * up the batch.
   */
  adapter?: { id: string; load: () => LoraAdapter | Promise<LoraAdapter> };
  maxTokens: number;
  /** Generate all maxTokens even past the end-of-text token (benchmarks). */
  ignoreEndOfText?: boolean;
  sampling?: SamplingParams;
  /** Generation ends before the first occurrence of any of these. */
  stop?: string[];
  signal?: AbortSignal;
  /** Each new token and the text it completes (text that may start a stop sequence is held back). */
  onToken?: (token: number, text: string) => void;
}

export type FinishReason = 'length' | 'stop' | 'end_of_text' | 'cancelled';

export interface GenerateResult {
  tokens: number[];
  text: string;
  finishReason: FinishReason;
}

export interface SchedulerOptions {
  /** Most requests decoding together. */
  maxBatch: number;
  /** Most prompt tokens of one request per prefill step (long prompts are chunked). */
  prefillChunk: number;
  /** Most prompt tokens of all requests per prefill step. */
  maxBatchTokens: number;
}

/** One request in flight: its cache ([H, P, hd] per layer and part) and its output so far. */
interface Row {
  request: GenerateRequest;
  finish: (result: GenerateResult) => void;
  fail: (error: unknown) => void;
  /** The adapter's factors once loaded; null while loading and for the base model. */
  adapter: LoraAdapter | null;
  /** Settles when the adapter is loaded (at once for the base model). */
  ready: Promise<unknown>;
  slot: number;
  prefilled: number;
  tokens: number[];
  cache: Float32Array[];
  length: number;
  random: () => number;
  nextText: (token: number) => string;
  text: string;
  emitted: number;
}

/**
 * Continuous batching: requests join between decode steps, long prompts are prefilled in
 * chunks under a token budget, and every decode step runs all running requests (each on
 * its own adapter slot) in one forward pass.
 */
export class BatchScheduler {
  private readonly waiting: Row[] = [];
  private readonly running: Row[] = [];
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly headDim: number;
  private readonly kvHeads: number;

  constructor(
    private readonly session: DecoderSession,
    private readonly pool: SlotPool | null,
    private readonly tokenizer: Tokenizer,
    private readonly options: SchedulerOptions,
  ) {
    this.headDim = headDim(session.config);
    this.kvHeads = kvHeads(session.config);
  }

  generate(request: GenerateRequest): Promise<GenerateResult> {
    if (request.prompt.length === 0) return Promise.reject(new Error('the prompt has no tokens'));
    if (request.adapter && !this.pool) return Promise.reject(new Error('this scheduler serves the base model only (no slot pool)'));
    return new Promise((resolve, reject) => {
      const layers = this.session.config.nLayers;
      const row: Row = {
        request,
        finish: resolve,
        fail: reject,
        adapter: null,
        ready: Promise.resolve(),
        slot: 0,
        prefilled: 0,
        tokens: [],
        cache: Array.from({ length: layers * 2 }, () => new Float32Array(0)),
        length: 0,
        random: seededRandom(request.sampling?.seed ?? 0),
        nextText: this.tokenizer.streamDecoder(),
        text: '',
        emitted: 0,
      };
      if (request.adapter) {
        row.ready = Promise.resolve()
          .then(request.adapter.load)
          .then(
            (adapter) => (row.adapter = adapter),
            (error: unknown) => {
              const at = this.waiting.indexOf(row);
              if (at >= 0) this.waiting.splice(at, 1);
              reject(error);
            },
          );
      }
      this.waiting.push(row);
      request.signal?.addEventListener('abort', () => this.wake?.(), { once: true });
      this.wake?.();
      this.startLoop();
    });
  }

  /**
   * One loop serves every request; an engine error fails all of them rather than hanging
   * any. A request that arrives while the loop is winding down starts it again.
   */
  private startLoop(): void {
    if (this.loop) return;
    this.loop = this.run()
      .catch((error: unknown) => {
        for (const row of [...this.running, ...this.waiting]) {
          this.release(row);
          row.fail(error);
        }
        this.running.length = this.waiting.length = 0;
      })
      .finally(() => {
        this.loop = null;
        if (this.waiting.length) this.startLoop();
      });
  }

  private async run(): Promise<void> {
    while (this.waiting.length || this.running.length) {
      this.dropCancelled();
      this.admit();
      const prefilling = this.running.filter((row) => row.prefilled < row.request.prompt.length);
      if (prefilling.length) await this.prefillStep(prefilling);
      const decoding = this.running.filter((row) => row.prefilled === row.request.prompt.length && row.tokens.length > 0 && !prefilling.includes(row));
      if (decoding.length) await this.decodeStep(decoding);
      if (!prefilling.length && !decoding.length && this.waiting.length) {
        const loading = this.waiting.filter((row) => row.request.adapter && !row.adapter);
        if (!loading.length) throw new Error('no request can run: every adapter slot is pinned');
        // Idle until an adapter arrives or a new request does (it may need no load at all).
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          void Promise.race(loading.map((row) => row.ready)).then(() => resolve());
        });
        this.wake = null;
      }
    }
  }

  /** First come, first served among requests whose adapter is loaded, while rows and slots last. */
  private admit(): void {
    for (const row of [...this.waiting]) {
      if (this.running.length >= this.options.maxBatch) break;
      const id = row.request.adapter?.id;
      if (id !== undefined && !row.adapter) continue;
      if (id !== undefined && !this.pool!.canAcquire(id)) break;
      this.waiting.splice(this.waiting.indexOf(row), 1);
      row.slot = id !== undefined ? this.pool!.acquire(id, () => row.adapter!) : 0;
      this.running.push(row);
    }
  }

  private async prefillStep(rows: Row[]): Promise<void> {
    let budget = this.options.maxBatchTokens;
    const chunks: { row: Row; tokens: number[] }[] = [];
    for (const row of rows) {
      const size = Math.min(this.options.prefillChunk, row.request.prompt.length - row.prefilled, budget);
      if (size <= 0) break;
      budget -= size;
      chunks.push({ row, tokens: row.request.prompt.slice(row.prefilled, row.prefilled + size) });
    }
    const logits = await this.forward(chunks);
    chunks.forEach(({ row, tokens }, i) => {
      row.prefilled += tokens.length;
      if (row.prefilled === row.request.prompt.length) this.accept(row, logits[i]!);
    });
  }

  private async decodeStep(rows: Row[]): Promise<void> {
    const logits = await this.forward(rows.map((row) => ({ row, tokens: [row.tokens.at(-1)!] })));
    rows.forEach((row, i) => this.accept(row, logits[i]!));
  }

  /**
   * One forward pass over rows with different cache lengths and chunk sizes: caches are
   * padded to the longest and new tokens to the longest chunk, both masked out; each row's
   * cache is then cut back to its own entries. Returns each row's logits at its last new token.
   */
  private async forward(batch: { row: Row; tokens: number[] }[]): Promise<Float32Array[]> {
    const { nLayers: layers, vocabSize } = this.session.config;
    const heads = this.kvHeads;
    const hd = this.headDim;
    const past = Math.max(...batch.map(({ row }) => row.length));
    const width = Math.max(...batch.map(({ tokens }) => tokens.length));
    const b = batch.length;
    const cache: KvCache = {};
    for (let layer = 0; layer < layers; layer++) {
      for (const [p, part] of (['key', 'value'] as const).entries()) {
        const data = new Float32Array(b * heads * past * hd);
        batch.forEach(({ row }, r) => {
          const own = row.cache[layer * 2 + p]!;
          for (let h = 0; h < heads; h++) data.set(own.subarray(h * row.length * hd, (h + 1) * row.length * hd), (r * heads + h) * past * hd);
        });
        cache[cacheName('past', layer, part)] = float32Tensor(data, [b, heads, past, hd]);
      }
    }
    const output = await this.session.forward({
      ids: batch.map(({ tokens }) => [...tokens, ...Array(width - tokens.length).fill(0)]),
      positions: batch.map(({ row, tokens }) => Array.from({ length: width }, (_, i) => (i < tokens.length ? row.length + i : 0))),
      attentionMask: batch.map(({ row, tokens }) => [
        ...Array.from({ length: past }, (_, j) => (j < row.length ? 1 : 0)),
        ...Array.from({ length: width }, (_, i) => (i < tokens.length ? 1 : 0)),
      ]),
      past: cache,
      ...(this.pool
        ? {
            lora: {
              ...this.pool.feeds(),
              slots: int64Tensor(batch.map(({ row }) => row.slot), [b, 1]),
              gates: float32Tensor(new Float32Array(b * width).fill(1), [b, width, 1]),
            },
          }
        : {}),
    });
    const total = past + width;
    batch.forEach(({ row, tokens }, r) => {
      const length = row.length + tokens.length;
      for (let layer = 0; layer < layers; layer++) {
        for (const [p, part] of (['key', 'value'] as const).entries()) {
          const present = output.present[cacheName('past', layer, part)]!.data as Float32Array;
          const own = new Float32Array(heads * length * hd);
          for (let h = 0; h < heads; h++) {
            const base = (r * heads + h) * total * hd;
            own.set(present.subarray(base, base + row.length * hd), h * length * hd);
            own.set(present.subarray(base + past * hd, base + (past + tokens.length) * hd), (h * length + row.length) * hd);
          }
          row.cache[layer * 2 + p] = own;
        }
      }
      row.length = length;
    });
    return batch.map(({ tokens }, r) => output.logits.slice((r * width + tokens.length - 1) * vocabSize, (r * width + tokens.length) * vocabSize));
  }

  /** Samples the row's next token, streams it, and ends the row when it is done. */
  private accept(row: Row, logits: Float32Array): void {
    const token = sampleToken(logits, row.request.sampling ?? {}, row.random);
    if (token === this.tokenizer.endOfText && !row.request.ignoreEndOfText) return this.end(row, 'end_of_text');
    row.tokens.push(token);
    row.text += row.nextText(token);
    const stops = row.request.stop ?? [];
    const hit = stops.map((s) => row.text.indexOf(s)).filter((i) => i >= 0);
    if (hit.length) {
      row.text = row.text.slice(0, Math.min(...hit));
      return this.end(row, 'stop', token);
    }
    // Hold back a tail that could still become a stop sequence.
    let held = 0;
    for (const stop of stops) for (let n = Math.min(stop.length - 1, row.text.length); n > held; n--) if (row.text.endsWith(stop.slice(0, n))) held = n;
    this.emit(row, token, row.text.length - held);
    if (row.tokens.length >= row.request.maxTokens) this.end(row, 'length');
  }

  private emit(row: Row, token: number, upTo: number): void {
    const piece = row.text.slice(row.emitted, Math.max(upTo, row.emitted));
    row.emitted = Math.max(upTo, row.emitted);
    row.request.onToken?.(token, piece);
  }

  /** Flushes held-back text (already cut at a stop sequence) and settles the request. */
  private end(row: Row, reason: FinishReason, lastToken = row.tokens.at(-1)): void {
    if (lastToken !== undefined && row.emitted < row.text.length) this.emit(row, lastToken, row.text.length);
    this.running.splice(this.running.indexOf(row), 1);
    this.release(row);
    row.finish({ tokens: row.tokens, text: row.text, finishReason: reason });
  }

  private dropCancelled(): void {
    for (const row of [...this.running, ...this.waiting]) {
      if (!row.request.signal?.aborted) continue;
      const queue = this.running.includes(row) ? this.running : this.waiting;
      queue.splice(queue.indexOf(row), 1);
      this.release(row);
      row.finish({ tokens: row.tokens, text: row.text, finishReason: 'cancelled' });
    }
  }

  private release(row: Row): void {
    if (row.slot > 0) this.pool?.release(row.slot);
    row.slot = 0;
  }
}
