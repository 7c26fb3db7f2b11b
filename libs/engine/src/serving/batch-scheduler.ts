import type { LoraAdapter } from '../adapter/lora-adapter.js';
import type { DecoderSession } from '../model/decoder-session.js';
import { seededRandom } from '../seeded-random.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { KvBlocks, type KvBlockOptions } from './kv-blocks.js';
import { PrefixCache, prefixNamespace } from './prefix-cache.js';
import { routes, routingFeeds } from './routing-feeds.js';
import { sampleToken, tokenLogprob, type SamplingParams, type TokenLogprob } from './sampling.js';
import type { OutputConstraint } from '../structured/json-constraint.js';
import type { SlotPool } from './slot-pool.js';
import { TextStream } from './text-stream.js';

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
  /** Structured output: only tokens the constraint allows are sampled, and generation stops where it is complete. */
  constraint?: OutputConstraint;
  /** Report each generated token's log-probability and this many most likely alternatives (0–20). */
  logprobs?: number;
  /**
   * Who may share this prompt's cached prefix (a tenant): with the scheduler's prefix cache on,
   * its prompt reuses blocks cached under the same scope (and the same adapters where they
   * change keys and values) and leaves its own for later prompts. None: no reuse.
   */
  cacheScope?: string;
}

export type FinishReason = 'length' | 'stop' | 'end_of_text' | 'cancelled';

export interface GenerateResult {
  tokens: number[];
  text: string;
  finishReason: FinishReason;
  /** With returnGates: one row per token read, each adapter's gate averaged over the projections. */
  gates?: number[][];
  /** With logprobs: one per token of `tokens`. */
  logprobs?: TokenLogprob[];
}

export interface SchedulerOptions {
  /**
   * The same model built without `lora.router`, run for the steps in which no row routes per
   * token or traces gates: the router's ops cost those steps time and change nothing (4–8% of
   * throughput on CPU, bench/results/inference.json), for the weights held twice.
   * Both sessions share the slot pool and the KV blocks, so a row moves between them freely.
   */
  fixedGatesSession?: DecoderSession;
  /** Most requests decoding together. */
  maxBatch: number;
  /** Most prompt tokens of one request per prefill step (long prompts are chunked). */
  prefillChunk: number;
  /** Most prompt tokens of all requests per prefill step. */
  maxBatchTokens: number;
  /**
   * The KV cache: block size and the tokens of context all rows together may hold (default
   * blocks of 16, maxBatch full contexts). A request is admitted once blocks for its prompt and
   * all its output are free; until then it waits.
   */
  kvCache?: Partial<KvBlockOptions>;
  /** Keep prompt blocks for reuse by later prompts of the same cacheScope (default off). */
  prefixCache?: boolean;
}

export interface SchedulerStats {
  kv: { blocksUsed: number; blocksTotal: number; blockSize: number; bytesPerToken: number };
  prefixCache: { promptTokens: number; hitTokens: number; cachedBlocks: number };
}

/** One request in flight. */
interface Row {
  request: GenerateRequest;
  finish: (result: GenerateResult) => void;
  fail: (error: unknown) => void;
  /** The adapters' factors once all are loaded (null for one a slot held when loading began); null while loading. */
  loaded: (LoraAdapter | null)[] | null;
  /** Settles when the adapters are loaded (at once for the base model). */
  ready: Promise<unknown>;
  /** The slot of each adapter while running (none for the base model) and their gates. */
  slots: number[];
  weights: number[];
  tokenRouting?: GenerateRequest['tokenRouting'];
  /** Its KV blocks in position order, how many more it may still take, and the tokens they hold. */
  blocks: number[];
  reserved: number;
  length: number;
  /** Its prompt blocks' prefix-cache keys and namespace (none: no reuse). */
  prefix: { keys: string[]; adapterIds: string[]; inserted: number } | null;
  prefilled: number;
  tokens: number[];
  random: () => number;
  text: TextStream;
  gates: number[][];
  logprobs: TokenLogprob[];
}

/**
 * Continuous batching: requests join between decode steps, long prompts are prefilled in
 * chunks under a token budget, and every decode step runs all running requests (each on
 * its own adapter slot) in one forward pass. Each row's cache lives in blocks of one pool
 * (kv-blocks.ts) that the graph reads in place, so rows join and leave without moving
 * anyone's cache; admission waits for the KV budget.
 */
export class BatchScheduler {
  private readonly waiting: Row[] = [];
  private readonly running: Row[] = [];
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly kv: KvBlocks;
  private readonly prefixes: PrefixCache | null;

  constructor(
    private readonly session: DecoderSession,
    private readonly pool: SlotPool | null,
    private readonly tokenizer: Tokenizer,
    private readonly options: SchedulerOptions,
  ) {
    // A size left out by an untyped caller would make NaN-sized prefill chunks (passes of no tokens).
    for (const size of ['maxBatch', 'prefillChunk', 'maxBatchTokens'] as const)
      if (!Number.isInteger(options[size]) || options[size] < 1)
        throw new Error(`scheduler option ${size} must be a positive integer, not ${options[size]}`);
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
    this.kv = new KvBlocks(session.config, {
      blockSize: options.kvCache?.blockSize ?? 16,
      budgetTokens: options.kvCache?.budgetTokens ?? options.maxBatch * session.config.maxPositions,
    });
    this.prefixes = options.prefixCache ? new PrefixCache(this.kv) : null;
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
    const needed = this.blocksFor(request);
    if (needed > this.kv.blockCount)
      return Promise.reject(
        new Error(
          `the request needs ${needed * this.kv.blockSize} tokens of KV cache (prompt and maxTokens); this scheduler's budget is ${this.kv.blockCount * this.kv.blockSize}`,
        ),
      );
    return new Promise((resolve, reject) => {
      const row: Row = {
        request,
        finish: resolve,
        fail: reject,
        loaded: adapters.length ? null : [],
        ready: Promise.resolve(),
        slots: [],
        weights: adapters.map((a) => a.weight ?? 1),
        ...(request.tokenRouting ? { tokenRouting: request.tokenRouting } : {}),
        blocks: [],
        reserved: 0,
        length: 0,
        prefix: null,
        prefilled: 0,
        tokens: [],
        random: seededRandom(request.sampling?.seed ?? 0),
        text: new TextStream(this.tokenizer, request.stop ?? [], request.onToken),
        gates: [],
        logprobs: [],
      };
      if (adapters.length) this.loadAdapters(row);
      this.waiting.push(row);
      request.signal?.addEventListener('abort', () => this.wake?.(), { once: true });
      this.wake?.();
      this.startLoop();
    });
  }

  /**
   * Reads the row's adapters that no slot holds; one a slot holds is not read (the slot is its
   * only copy in memory) unless it leaves its slot before the row is admitted (see admit).
   */
  private loadAdapters(row: Row): void {
    row.loaded = null;
    const adapters = row.request.adapters ?? [];
    row.ready = Promise.all(adapters.map((a) => (this.pool!.holds(a.id) ? null : Promise.resolve().then(a.load)))).then(
      (loaded) => {
        row.loaded = loaded;
      },
      (error: unknown) => {
        const at = this.waiting.indexOf(row);
        if (at >= 0) this.waiting.splice(at, 1);
        row.fail(error);
      },
    );
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
      logitPositions: [[tokens.length - 1]],
      ...(this.pool ? { lora: routingFeeds(this.pool, session, [{ slots: [], weights: [] }], tokens.length) } : {}),
    });
    return output.pooledHidden;
  }

  stats(): SchedulerStats {
    return {
      kv: {
        blocksUsed: this.kv.blockCount - this.kv.freeBlocks,
        blocksTotal: this.kv.blockCount,
        blockSize: this.kv.blockSize,
        bytesPerToken: KvBlocks.bytesPerToken(this.session.config),
      },
      prefixCache: {
        promptTokens: this.prefixes?.promptTokens ?? 0,
        hitTokens: this.prefixes?.hitTokens ?? 0,
        cachedBlocks: this.prefixes?.size ?? 0,
      },
    };
  }

  /** Forgets cached prefixes computed with adapters `stale` names (a deletion); returns how many blocks were dropped. */
  dropCachedPrefixes(stale: (adapterId: string) => boolean): number {
    return this.prefixes?.drop(stale) ?? 0;
  }

  /**
   * One loop serves every request; an engine error fails all of them rather than hanging
   * any. A request that arrives while the loop is winding down starts it again. The loop
   * starts on the next turn of the event loop, so requests made together share their first step.
   */
  private startLoop(): void {
    if (this.loop) return;
    this.loop = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run())
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

  /**
   * First come, first served among requests whose adapters are loaded, while rows, slots and
   * KV blocks last: a request is admitted with blocks reserved for its prompt and its whole
   * output (less what its cached prefix covers), so a running row never runs out of cache.
   */
  private admit(): void {
    for (const row of [...this.waiting]) {
      if (this.running.length >= this.options.maxBatch) break;
      if (!row.loaded) continue;
      const ids = (row.request.adapters ?? []).map((a) => a.id);
      if (ids.some((id, i) => !row.loaded![i] && !this.pool!.holds(id))) {
        // An adapter that was in a slot when the request came has left it since: read it now.
        this.loadAdapters(row);
        continue;
      }
      if (ids.length && !this.pool!.canAcquire(ids)) break;
      const cached = this.reusePrefix(row);
      const reserve = this.blocksFor(row.request) - cached.length;
      if (reserve > this.spareBlocks()) {
        for (const block of cached) this.kv.release(block);
        row.prefix = null;
        break;
      }
      this.waiting.splice(this.waiting.indexOf(row), 1);
      row.blocks = cached;
      row.length = row.prefilled = cached.length * this.kv.blockSize;
      row.reserved = reserve;
      row.slots = ids.length ? this.pool!.acquireAll(ids, (i) => row.loaded![i]!) : [];
      // The slots hold the factors now: no reference here keeps a host copy alive (SlotPoolOptions.onLoaded).
      row.loaded = [];
      if (row.prefix) this.prefixes!.record(row.request.prompt.length, cached.length);
      this.running.push(row);
    }
  }

  /** Blocks a request may fill: its prompt and all its output. */
  private blocksFor(request: GenerateRequest): number {
    return Math.ceil((request.prompt.length + request.maxTokens) / this.kv.blockSize);
  }

  /** Blocks not promised to a running row: free ones and cached ones nobody uses. */
  private spareBlocks(): number {
    const promised = this.running.reduce((sum, row) => sum + row.reserved, 0);
    return this.kv.freeBlocks + (this.prefixes?.evictable() ?? 0) - promised;
  }

  /** The row's cached prompt blocks (retained for it), after working out its prefix keys. */
  private reusePrefix(row: Row): number[] {
    const scope = row.request.cacheScope;
    // Gate traces need every prompt token computed.
    if (!this.prefixes || scope === undefined || row.request.returnGates) return [];
    const namespace = prefixNamespace(
      this.session.config,
      scope,
      (row.request.adapters ?? []).map((a, i) => ({
        id: a.id,
        weight: a.weight ?? 1,
        projections: row.loaded![i]?.factors.keys() ?? this.pool!.projectionsOf(a.id),
      })),
      row.request.tokenRouting,
    );
    const keys = this.prefixes.keys(namespace.key, row.request.prompt);
    row.prefix = { keys, adapterIds: namespace.adapterIds, inserted: 0 };
    const cached = this.prefixes.lookup(keys);
    row.prefix.inserted = cached.length;
    return cached;
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
      this.keepPrefix(row);
      if (row.prefilled === row.request.prompt.length) this.accept(row, logits[i]!);
    });
  }

  /** Offers the row's newly filled prompt blocks to the prefix cache. */
  private keepPrefix(row: Row): void {
    const prefix = row.prefix;
    if (!prefix || !this.prefixes) return;
    for (; prefix.inserted < prefix.keys.length; prefix.inserted++) {
      if ((prefix.inserted + 1) * this.kv.blockSize > row.length) break;
      this.prefixes.insert(prefix.keys[prefix.inserted]!, row.blocks[prefix.inserted]!, prefix.adapterIds);
    }
  }

  private async decodeStep(rows: Row[]): Promise<void> {
    const logits = await this.forward(rows.map((row) => ({ row, tokens: [row.tokens.at(-1)!] })));
    rows.forEach((row, i) => this.accept(row, logits[i]!));
  }

  /**
   * One forward pass over rows with different cache lengths and chunk sizes: each row's past
   * is gathered from its blocks (right-padded to the longest, padding masked out), its new
   * tokens right-padded to the widest chunk, and the pass's new keys and values written into
   * its blocks. Returns each row's logits at its last new token (the only ones computed).
   */
  private async forward(batch: { row: Row; tokens: number[] }[]): Promise<Float32Array[]> {
    const rows = batch.map(({ row }) => row);
    const width = Math.max(...batch.map(({ tokens }) => tokens.length));
    const past = Math.max(...rows.map((row) => row.length));
    batch.forEach(({ row, tokens }) => this.growBlocks(row, row.length + tokens.length));
    const session = this.sessionFor(rows);
    const output = await session.forward({
      ids: batch.map(({ tokens }) => [...tokens, ...Array(width - tokens.length).fill(0)]),
      positions: batch.map(({ row, tokens }) =>
        Array.from({ length: width }, (_, i) => (i < tokens.length ? row.length + i : 0)),
      ),
      attentionMask: batch.map(({ row, tokens }) => [
        ...Array.from({ length: past }, (_, j) => (j < row.length ? 1 : 0)),
        ...Array.from({ length: width }, (_, i) => (i < tokens.length ? 1 : 0)),
      ]),
      cache: { blocks: this.kv, index: rows.map((row) => this.kv.index(row.blocks, row.length, past)) },
      logitPositions: batch.map(({ tokens }) => [tokens.length - 1]),
      ...(this.pool ? { lora: routingFeeds(this.pool, session, rows, width) } : {}),
    });
    this.kv.write(
      output.newKv,
      batch.map(({ row, tokens }) => ({ blocks: row.blocks, from: row.length, count: tokens.length })),
    );
    const k = Math.max(1, ...rows.map((row) => row.slots.length));
    batch.forEach(({ row, tokens }, r) => {
      row.length += tokens.length;
      if (!row.request.returnGates || !output.meanGates) return;
      for (let t = 0; t < tokens.length; t++)
        row.gates.push(
          Array.from(output.meanGates.subarray((r * width + t) * k, (r * width + t) * k + row.slots.length)),
        );
    });
    const vocab = this.session.config.vocabSize;
    return batch.map((_, r) => output.logits.slice(r * vocab, (r + 1) * vocab));
  }

  /** Gives the row blocks for `tokens` tokens out of its reservation, evicting cached prefixes when none is free. */
  private growBlocks(row: Row, tokens: number): void {
    while (row.blocks.length * this.kv.blockSize < tokens) {
      if (row.reserved <= 0) throw new Error('a row outgrew its KV reservation');
      let block = this.kv.allocate();
      if (block === null && this.prefixes?.evictOne()) block = this.kv.allocate();
      if (block === null) throw new Error('the KV cache has no free block for a reservation');
      row.blocks.push(block);
      row.reserved--;
    }
  }

  /** Samples the row's next token, streams it, and ends the row when it is done. */
  private accept(row: Row, logits: Float32Array): void {
    const { constraint } = row.request;
    const allowed = constraint ? constraint.mask(logits, row.request.maxTokens - row.tokens.length) : logits;
    const token = sampleToken(allowed, row.request.sampling ?? {}, row.random, row.tokens);
    if (token === this.tokenizer.endOfText && !row.request.ignoreEndOfText) return this.end(row, 'end_of_text');
    if (row.request.logprobs !== undefined) row.logprobs.push(tokenLogprob(logits, token, row.request.logprobs));
    row.tokens.push(token);
    const complete = constraint?.advance(token) ?? false;
    if (row.text.push(token) || complete) return this.end(row, 'stop');
    if (row.tokens.length >= row.request.maxTokens) this.end(row, 'length');
  }

  /** Flushes held-back text (already cut at a stop sequence) and settles the request. */
  private end(row: Row, reason: FinishReason): void {
    row.text.flush(row.tokens.at(-1));
    this.running.splice(this.running.indexOf(row), 1);
    this.release(row);
    row.finish({
      tokens: row.tokens,
      text: row.text.text,
      finishReason: reason,
      ...(row.request.returnGates ? { gates: row.gates } : {}),
      ...(row.request.logprobs !== undefined ? { logprobs: row.logprobs } : {}),
    });
  }

  private dropCancelled(): void {
    for (const row of [...this.running, ...this.waiting]) {
      if (!row.request.signal?.aborted) continue;
      const queue = this.running.includes(row) ? this.running : this.waiting;
      queue.splice(queue.indexOf(row), 1);
      this.release(row);
      row.finish({ tokens: row.tokens, text: row.text.text, finishReason: 'cancelled' });
    }
  }

  /** The fixed-gates session when it is there and no row needs the router; else the main one. */
  private sessionFor(rows: Row[]): DecoderSession {
    const plain = this.options.fixedGatesSession;
    return plain && !rows.some((row) => row.request.tokenRouting || row.request.returnGates) ? plain : this.session;
  }

  /** Gives back the row's adapter slots and KV blocks (cached prefix blocks stay with the cache). */
  private release(row: Row): void {
    for (const slot of row.slots) this.pool?.release(slot);
    row.slots = [];
    for (const block of row.blocks) this.kv.release(block);
    row.blocks = [];
    row.reserved = 0;
  }
}
