import type { DecoderConfig } from '../model/decoder-config.js';
import type { ForwardInput, NewKv } from '../model/decoder-session.js';
import { KvBlocks } from '../serving/kv-blocks.js';

/**
 * The caches of a batch's rows for tests that drive a DecoderSession by hand: each row's
 * positions in order in blocks of one pool, appended pass by pass, as the scheduler keeps them.
 */
export class RowCaches {
  readonly kv: KvBlocks;
  readonly blocks: number[][];
  readonly lengths: number[];

  constructor(config: DecoderConfig, rows: number, capacity = 32, blockSize = 4) {
    this.kv = new KvBlocks(config, { blockSize, budgetTokens: rows * capacity + blockSize * rows });
    this.blocks = Array.from({ length: rows }, () =>
      Array.from({ length: Math.ceil(capacity / blockSize) }, () => this.kv.allocate()!),
    );
    this.lengths = Array(rows).fill(0);
  }

  /** Writes a pass's new entries after each row's cached ones (`counts[r]` of them; all by default). */
  append(newKv: NewKv, counts?: number[]): this {
    const t = Object.values(newKv)[0]!.dims[2]!;
    this.kv.write(
      newKv,
      this.blocks.map((blocks, r) => ({ blocks, from: this.lengths[r]!, count: counts?.[r] ?? t })),
    );
    this.lengths.forEach((length, r) => (this.lengths[r] = length + (counts?.[r] ?? t)));
    return this;
  }

  /** The pool slot of a row's cached position. */
  slot(row: number, position: number): number {
    return this.kv.slotOf(this.blocks[row]!, position);
  }

  /** The cache input with each row's past columns as given (default: its positions in order; rows all as long). */
  input(index?: number[][]): ForwardInput['cache'] {
    return {
      blocks: this.kv,
      index: index ?? this.blocks.map((_, r) => Array.from({ length: this.lengths[r]! }, (_, j) => this.slot(r, j))),
    };
  }
}
