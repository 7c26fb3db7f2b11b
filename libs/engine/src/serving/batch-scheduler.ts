import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { headDim, kvHeads } from '../model/decoder-config.js';
import { cacheName } from '../model/decoder.js';
import type { DecoderSession, KvCache } from '../model/decoder-session.js';
import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { seededRandom } from '../seeded-random.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { sampleToken, type SamplingParams } from './sampling.js';
import type { SlotPool } from './slot-pool.js';

/** An adapter a request runs on, and its gate: the weight of its term in every adapted projection. */
export interface RequestAdapter {
  id: string;
  /** Called once, when the request arrives (from a host cache or storage); the request waits for it without holding up the batch. */
  load: () => LoraAdapter | Promise<LoraAdapter>;
  /** Default 1. */
  weight?: number;
}

export interface GenerateRequest {
  prompt: number[];
  /**
   * None: the base model (slot 0). One: that adapter. Several: a mixture in output space,
   * y = xW + Σ_j weight_j · x A_j B_j (DESIGN.md §5, gates constant over tokens).
   */
  adapters?: readonly RequestAdapter[];
  maxTokens: number;
  /** Generate all maxTokens even past the end-of-text token (benchmarks). */
  ignoreEndOfText?: boolean;
  sampling?: SamplingParams;
  /** Generation ends before the first occurrence of any of these. */
  stop?: string[];
  signal?: AbortSignal;
  /** Each new token and the text it completes (text that may start a stop sequence is held back). */
  onToken?: (token: number, text: string) => void;
  /**
   * Per-token routing over `adapters` (DESIGN.md §5 `token`), decided in every adapted
   * projection: `arrow` keeps the top_k by |⟨x, prototype⟩|, `learned` softmaxes every
   * adapter by its learned router vectors (LoraAdapter.routers). Needs a session built with
   * `lora.router`. Without it the adapters' weights hold for every token.
   */
  tokenRouting?: { kind: 'arrow'; topK: number } | { kind: 'learned' };
  /** Collect the gates of every token the model read (the prompt, then each generated token but the last). */
  returnGates?: boolean;
}

export type FinishReason = 'length' | 'stop' | 'end_of_text' | 'cancelled';

export interface GenerateResult {
  tokens: number[];
  text: string;
  finishReason: FinishReason;
  /** With returnGates: one row per token read, each adapter's gate averaged over the projections. */
  gates?: number[][];
}

export interface SchedulerOptions {
  /**
   * The same model built without `lora.router`, run for the steps in which no row routes per
   * token or traces gates: the router's ops cost those steps time and change nothing (4–8% of
   * throughput on CPU, bench/results/inference.json), for the weights held twice.
   * Both sessions share the slot pool and the cache layout, so a row moves between them freely.
   */
  fixedGatesSession?: DecoderSession;
  /** Most requests decoding together. */
  maxBatch: number;
  /** Most prompt tokens of one request per prefill step (long prompts are chunked). */
  prefillChunk: number;
  /** Most prompt tokens of all requests per prefill step. */
  maxBatchTokens: number;
}

/** One request in flight: its own cache ([KV, P, hd] per layer and part, while not packed) and its output so far. */
interface Row {
  request: GenerateRequest;
  finish: (result: GenerateResult) => void;
  fail: (error: unknown) => void;
  /** The adapters' factors once all are loaded; null while loading. */
  loaded: LoraAdapter[] | null;
  /** Settles when the adapters are loaded (at once for the base model). */
  ready: Promise<unknown>;
  /** The slot of each adapter while running (none for the base model) and their gates. */
  slots: number[];
  weights: number[];
  prefilled: number;
  tokens: number[];
  cache: Float32Array[];
  length: number;
  random: () => number;
  nextText: (token: number) => string;
  text: string;
  emitted: number;
  gates: number[][];
}

/** Columns to allocate for a cache of `needed`: a quarter spare, so decoding grows it rarely. */
function capacityFor(needed: number): number {
  return Math.ceil((needed * 1.25 + 8) / 16) * 16;
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
  /** The cache of the rows of the last forward pass, packed as the graph returned it. */
  private packed: {
    rows: Row[];
    buffers: Float32Array[];
    capacity: number;
    width: number;
    columns: number[][];
  } | null = null;
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
    const plain = options.fixedGatesSession;
    if (plain) {
      // Rows move between the two sessions step by step: same model, cache and slot pool, only the router differs.
      const same = plain.config === session.config || JSON.stringify(plain.config) === JSON.stringify(session.config);
      const lora = (s: DecoderSession) =>
        JSON.stringify({
          modules: [...(s.graph.lora?.modules ?? [])].sort(),
          rank: s.graph.lora?.rank,
          scoring: s.graph.scoring ?? false,
        });
      if (!same || lora(plain) !== lora(session) || routes(plain))
        throw new Error(
          'fixedGatesSession must be the same model and LoRA pool as the session, built without lora.router',
        );
    }
  }

  generate(request: GenerateRequest): Promise<GenerateResult> {
    if (request.prompt.length === 0) return Promise.reject(new Error('the prompt has no tokens'));
    const adapters = request.adapters ?? [];
    if (adapters.length && !this.pool)
      return Promise.reject(new Error('this scheduler serves the base model only (no slot pool)'));
    if (new Set(adapters.map((a) => a.id)).size !== adapters.length)
      return Promise.reject(new Error('a request names an adapter twice'));
    if (adapters.length >= (this.pool?.options.slots ?? 1))
      return Promise.reject(
        new Error(`a request may mix at most ${(this.pool?.options.slots ?? 1) - 1} adapters (the slot pool's size)`),
      );
    if ((request.tokenRouting || request.returnGates) && !this.session.graph.lora?.router)
      return Promise.reject(new Error('token routing and gate traces need a session built with lora.router'));
    if (request.tokenRouting && adapters.length === 0)
      return Promise.reject(new Error('token routing needs adapters to route among'));
    return new Promise((resolve, reject) => {
      const layers = this.session.config.nLayers;
      const row: Row = {
        request,
        finish: resolve,
        fail: reject,
        loaded: adapters.length ? null : [],
        ready: Promise.resolve(),
        slots: [],
        weights: adapters.map((a) => a.weight ?? 1),
        prefilled: 0,
        tokens: [],
        cache: Array.from({ length: layers * 2 }, () => new Float32Array(0)),
        length: 0,
        random: seededRandom(request.sampling?.seed ?? 0),
        nextText: this.tokenizer.streamDecoder(),
        text: '',
        emitted: 0,
        gates: [],
      };
      if (adapters.length) {
        row.ready = Promise.all(adapters.map((a) => Promise.resolve().then(a.load))).then(
          (loaded) => (row.loaded = loaded),
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
   * The prompt's mean final hidden state under the base model (slot 0, gate 0: exactly the
   * base model), what `auto` routing compares with adapters' training centroids. Runs beside
   * the batch loop; a prompt longer than the model's context is cut to its last tokens.
   */
  async pooledHidden(prompt: number[]): Promise<Float32Array> {
    const tokens = prompt.slice(-this.session.config.maxPositions);
    if (tokens.length === 0) throw new Error('the prompt has no tokens');
    const session = this.sessionFor([]);
    const output = await session.forward({
      ids: [tokens],
      positions: [tokens.map((_, i) => i)],
      attentionMask: [tokens.map(() => 1)],
      ...(this.pool
        ? {
            lora: {
              ...this.pool.feeds(routes(session)),
              slots: int64Tensor([0], [1, 1]),
              gates: float32Tensor(new Float32Array(tokens.length), [1, tokens.length, 1]),
              ...this.routerFeeds([], session),
            },
          }
        : {}),
    });
    return output.pooledHidden;
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
      const decoding = this.running.filter(
        (row) => row.prefilled === row.request.prompt.length && row.tokens.length > 0 && !prefilling.includes(row),
      );
      if (decoding.length) await this.decodeStep(decoding);
      if (!prefilling.length && !decoding.length && this.waiting.length) {
        const loading = this.waiting.filter((row) => !row.loaded);
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

  /** First come, first served among requests whose adapters are loaded, while rows and slots last. */
  private admit(): void {
    for (const row of [...this.waiting]) {
      if (this.running.length >= this.options.maxBatch) break;
      if (!row.loaded) continue;
      const ids = (row.request.adapters ?? []).map((a) => a.id);
      if (ids.length && !this.pool!.canAcquire(ids)) break;
      this.waiting.splice(this.waiting.indexOf(row), 1);
      row.slots = ids.length ? this.pool!.acquireAll(ids, (i) => row.loaded![i]!) : [];
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
   * One forward pass over rows with different cache lengths and chunk sizes. While the same
   * rows run, their cache stays packed in buffers [B, KV, capacity, hd] with spare columns:
   * the graph reads them in place (unused columns masked out) and returns only this pass's
   * keys and values, which are written into the next free column. So a decode step copies
   * one token's entries, not the cache. Rows are right-padded where lengths differ; each
   * row's `columns` says which cache columns are its own. Returns each row's logits at its
   * last new token.
   */
  private async forward(batch: { row: Row; tokens: number[] }[]): Promise<Float32Array[]> {
    const rows = batch.map(({ row }) => row);
    if (!this.packed || this.packed.rows.length !== rows.length || this.packed.rows.some((row, r) => row !== rows[r]))
      this.repack(rows);
    const packed = this.packed!;
    const width = Math.max(...batch.map(({ tokens }) => tokens.length));
    const b = batch.length;
    const heads = this.kvHeads;
    const hd = this.headDim;
    const past: KvCache = {};
    packed.buffers.forEach(
      (buffer, i) =>
        (past[cacheName('past', i >> 1, i & 1 ? 'value' : 'key')] = float32Tensor(buffer, [
          b,
          heads,
          packed.capacity,
          hd,
        ])),
    );
    const unused = Array(packed.capacity - packed.width).fill(0);
    const session = this.sessionFor(rows);
    const output = await session.forward({
      ids: batch.map(({ tokens }) => [...tokens, ...Array(width - tokens.length).fill(0)]),
      positions: batch.map(({ row, tokens }) =>
        Array.from({ length: width }, (_, i) => (i < tokens.length ? row.length + i : 0)),
      ),
      attentionMask: batch.map(({ tokens }, r) => [
        ...packed.columns[r]!,
        ...unused,
        ...Array.from({ length: width }, (_, i) => (i < tokens.length ? 1 : 0)),
      ]),
      past,
      ...(this.pool
        ? {
            lora: {
              ...this.pool.feeds(routes(session)),
              ...this.routingFeeds(rows, width, session),
            },
          }
        : {}),
    });
    if (packed.width + width > packed.capacity) this.grow(packed.width + width);
    packed.buffers.forEach((buffer, i) => {
      const added = output.newKv[cacheName('past', i >> 1, i & 1 ? 'value' : 'key')]!.data as Float32Array;
      for (let rh = 0; rh < b * heads; rh++)
        buffer.set(added.subarray(rh * width * hd, (rh + 1) * width * hd), (rh * packed.capacity + packed.width) * hd);
    });
    packed.width += width;
    const k = Math.max(1, ...rows.map((row) => row.slots.length));
    batch.forEach(({ row, tokens }, r) => {
      for (let i = 0; i < width; i++) packed.columns[r]!.push(i < tokens.length ? 1 : 0);
      row.length += tokens.length;
      if (!row.request.returnGates || !output.meanGates) return;
      for (let t = 0; t < tokens.length; t++)
        row.gates.push(
          Array.from(output.meanGates.subarray((r * width + t) * k, (r * width + t) * k + row.slots.length)),
        );
    });
    const vocab = this.session.config.vocabSize;
    return batch.map(({ tokens }, r) =>
      output.logits.slice((r * width + tokens.length - 1) * vocab, (r * width + tokens.length) * vocab),
    );
  }

  /** Packs `rows` into batch buffers, after saving the old batch's rows that still run. */
  private repack(rows: Row[]): void {
    this.unpack();
    const heads = this.kvHeads;
    const hd = this.headDim;
    const width = Math.max(...rows.map((row) => row.length));
    const capacity = capacityFor(width);
    const buffers = Array.from({ length: this.session.config.nLayers * 2 }, (_, i) => {
      const buffer = new Float32Array(rows.length * heads * capacity * hd);
      rows.forEach((row, r) => {
        const own = row.cache[i]!;
        for (let h = 0; h < heads; h++)
          buffer.set(own.subarray(h * row.length * hd, (h + 1) * row.length * hd), (r * heads + h) * capacity * hd);
      });
      return buffer;
    });
    this.packed = {
      rows,
      buffers,
      capacity,
      width,
      columns: rows.map((row) => Array.from({ length: width }, (_, j) => (j < row.length ? 1 : 0))),
    };
  }

  /** Moves the packed cache into larger buffers with room for `needed` columns. */
  private grow(needed: number): void {
    const packed = this.packed!;
    const capacity = capacityFor(needed);
    const hd = this.headDim;
    packed.buffers = packed.buffers.map((old) => {
      const buffer = new Float32Array((old.length / packed.capacity) * capacity);
      for (let rh = 0; rh < old.length / packed.capacity / hd; rh++)
        buffer.set(
          old.subarray(rh * packed.capacity * hd, (rh * packed.capacity + packed.width) * hd),
          rh * capacity * hd,
        );
      return buffer;
    });
    packed.capacity = capacity;
  }

  /** Copies each still-running row's own columns out of the packed buffers into its compact cache. */
  private unpack(): void {
    if (!this.packed) return;
    const { rows, buffers, capacity, columns } = this.packed;
    this.packed = null;
    const heads = this.kvHeads;
    const hd = this.headDim;
    rows.forEach((row, r) => {
      if (!this.running.includes(row)) return;
      const own = columns[r]!.flatMap((valid, j) => (valid ? [j] : []));
      row.cache = buffers.map((buffer) => {
        const compact = new Float32Array(heads * own.length * hd);
        for (let h = 0; h < heads; h++) {
          const base = (r * heads + h) * capacity;
          own.forEach((j, i) =>
            compact.set(buffer.subarray((base + j) * hd, (base + j + 1) * hd), (h * own.length + i) * hd),
          );
        }
        return compact;
      });
    });
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
    for (const stop of stops)
      for (let n = Math.min(stop.length - 1, row.text.length); n > held; n--)
        if (row.text.endsWith(stop.slice(0, n))) held = n;
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
    row.finish({
      tokens: row.tokens,
      text: row.text,
      finishReason: reason,
      ...(row.request.returnGates ? { gates: row.gates } : {}),
    });
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

  /**
   * slots [B, k] and gates [B, T, k] with k the most adapters any row mixes; a row with
   * fewer fills the rest with slot 0 (the zero adapter) at gate 0, the base model with none.
   * A token-routed row marks its adapters with gate 1: the graph routes among those.
   */
  private routingFeeds(rows: Row[], width: number, session: DecoderSession): Record<string, OrtTensor> {
    const k = Math.max(1, ...rows.map((row) => row.slots.length));
    const slots: number[] = [];
    const gates = new Float32Array(rows.length * width * k);
    rows.forEach((row, r) => {
      for (let j = 0; j < k; j++) slots.push(row.slots[j] ?? 0);
      for (let t = 0; t < width; t++)
        for (let j = 0; j < row.slots.length; j++)
          gates[(r * width + t) * k + j] = row.request.tokenRouting ? 1 : row.weights[j]!;
    });
    return {
      slots: int64Tensor(slots, [rows.length, k]),
      gates: float32Tensor(gates, [rows.length, width, k]),
      ...this.routerFeeds(rows, session),
    };
  }

  /** The fixed-gates session when it is there and no row needs the router; else the main one. */
  private sessionFor(rows: Row[]): DecoderSession {
    const plain = this.options.fixedGatesSession;
    return plain && !rows.some((row) => row.request.tokenRouting || row.request.returnGates) ? plain : this.session;
  }

  /** router_top_k and router_abs [B] for graphs that route tokens: 0 (fixed gates) for rows that do not. */
  private routerFeeds(rows: Row[], session: DecoderSession): Record<string, OrtTensor> {
    if (!routes(session)) return {};
    const batch = Math.max(1, rows.length);
    const topK = new Float32Array(batch);
    const absolute = new Float32Array(batch);
    rows.forEach((row, r) => {
      const routing = row.request.tokenRouting;
      if (!routing) return;
      topK[r] = routing.kind === 'arrow' ? Math.min(routing.topK, row.slots.length) : row.slots.length;
      absolute[r] = routing.kind === 'arrow' ? 1 : 0;
    });
    return { router_top_k: float32Tensor(topK, [batch]), router_abs: float32Tensor(absolute, [batch]) };
  }

  private release(row: Row): void {
    for (const slot of row.slots) this.pool?.release(slot);
    row.slots = [];
  }
}

const routes = (session: DecoderSession): boolean => session.graph.lora?.router === true;
