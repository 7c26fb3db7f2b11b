import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import { headDim, kvHeads, type DecoderConfig } from '../model/decoder-config.js';
import { cacheName } from '../model/decoder.js';

export interface KvBlockOptions {
  /** Tokens per block. */
  blockSize: number;
  /** Tokens of context the pool holds across all rows (rounded up to whole blocks). */
  budgetTokens: number;
}

/**
 * The key/value cache of every row in flight, in fixed-size blocks of one preallocated pool
 * per layer and part (the PagedAttention idea): a row's cache is a list of blocks, so rows of
 * any length join and leave without moving anyone's entries, and a block may be shared (a
 * cached prompt prefix) by counting references.
 *
 * Pool layout [KV, N, hd] with N = blocks × blockSize token slots: the graph gathers a batch's
 * past as [KV, B, P, hd] straight from it through `kv_index` [B, P] (the pool is fed as is,
 * never copied), and a pass's new entries are written into the slots of their rows.
 * Pages of the pool that no block has used yet are never touched, so they take no memory.
 */
export class KvBlocks {
  readonly blockSize: number;
  readonly blockCount: number;
  /** [layers·2] pools [KV, N, hd], key then value per layer. */
  private readonly pools: Float32Array[];
  private readonly references: Uint32Array;
  private readonly free: number[];
  private readonly kv: number;
  private readonly hd: number;

  constructor(config: DecoderConfig, options: KvBlockOptions) {
    if (!Number.isInteger(options.blockSize) || options.blockSize < 1)
      throw new Error(`kv cache blockSize ${options.blockSize} must be a positive integer`);
    this.blockSize = options.blockSize;
    this.blockCount = Math.ceil(options.budgetTokens / options.blockSize);
    if (this.blockCount < 1) throw new Error(`kv cache budget ${options.budgetTokens} holds no block`);
    this.kv = kvHeads(config);
    this.hd = headDim(config);
    this.pools = Array.from(
      { length: config.nLayers * 2 },
      () => new Float32Array(this.kv * this.blockCount * this.blockSize * this.hd),
    );
    this.references = new Uint32Array(this.blockCount);
    // Lowest blocks first: a light load touches few pages.
    this.free = Array.from({ length: this.blockCount }, (_, i) => this.blockCount - 1 - i);
  }

  /** Bytes of cache one token of context takes: keys and values of every layer. */
  static bytesPerToken(config: DecoderConfig): number {
    return config.nLayers * 2 * kvHeads(config) * headDim(config) * Float32Array.BYTES_PER_ELEMENT;
  }

  get freeBlocks(): number {
    return this.free.length;
  }

  /** A fresh block with one reference, or null when every block is taken. */
  allocate(): number | null {
    const block = this.free.pop();
    if (block === undefined) return null;
    this.references[block] = 1;
    return block;
  }

  retain(block: number): void {
    if (this.references[block] === 0) throw new Error(`kv block ${block} is free`);
    this.references[block]!++;
  }

  /** Drops one reference; the block is free again when none is left. */
  release(block: number): void {
    if (this.references[block] === 0) throw new Error(`kv block ${block} is already free`);
    if (--this.references[block]! === 0) this.free.push(block);
  }

  referencesOf(block: number): number {
    return this.references[block]!;
  }

  /** The pool slot of a row's position `position`, given its blocks. */
  slotOf(blocks: readonly number[], position: number): number {
    return blocks[Math.floor(position / this.blockSize)]! * this.blockSize + (position % this.blockSize);
  }

  /**
   * Writes one pass's new entries into the rows' slots. `newKv` by `new.<i>.key|value` name,
   * each [B, KV, T, hd]; row r's token t goes to position `from + t` of its `blocks`, for its
   * first `count` tokens (the rest is padding).
   */
  write(
    newKv: Record<string, OrtTensor>,
    rows: readonly { blocks: readonly number[]; from: number; count: number }[],
  ): void {
    const { kv, hd } = this;
    const slots = this.blockCount * this.blockSize;
    const width = Math.max(...rows.map((row) => row.count));
    const targets = rows.map((row) =>
      Array.from({ length: row.count }, (_, t) => this.slotOf(row.blocks, row.from + t)),
    );
    this.pools.forEach((pool, i) => {
      const added = newKv[cacheName('new', i >> 1, i & 1 ? 'value' : 'key')]!.data as Float32Array;
      const t = added.length / (rows.length * kv * hd);
      if (t < width) throw new Error(`new kv holds ${t} tokens per row, ${width} expected`);
      rows.forEach((_, r) => {
        for (let h = 0; h < kv; h++)
          targets[r]!.forEach((slot, token) => {
            const from = ((r * kv + h) * t + token) * hd;
            pool.set(added.subarray(from, from + hd), (h * slots + slot) * hd);
          });
      });
    });
  }

  /** The graph's cache feeds: every pool as is, and `kv_index` [B, P] mapping each row's past columns to slots. */
  feeds(index: readonly (readonly number[])[]): Record<string, OrtTensor> {
    const slots = this.blockCount * this.blockSize;
    const feeds: Record<string, OrtTensor> = {
      kv_index: int64Tensor(index.flat(), [index.length, index[0]?.length ?? 0]),
    };
    this.pools.forEach((pool, i) => {
      feeds[cacheName('past', i >> 1, i & 1 ? 'value' : 'key')] = float32Tensor(pool, [this.kv, slots, this.hd]);
    });
    return feeds;
  }

  /** The past columns of one row of a batch whose past is `width` columns: its slots, then padding (slot 0, masked). */
  index(blocks: readonly number[], length: number, width: number): number[] {
    return Array.from({ length: width }, (_, j) => (j < length ? this.slotOf(blocks, j) : 0));
  }
}
