import { createHash } from 'node:crypto';
import { parseProjectionKey, type DecoderConfig } from '../model/decoder-config.js';
import type { KvBlocks } from './kv-blocks.js';

/** An adapter of a request as the cache key sees it. */
export interface KeyedAdapter {
  id: string;
  weight: number;
  /** The projection keys the adapter adapts. */
  projections: Iterable<string>;
}

/**
 * What a row's keys and values depend on besides its tokens: the scope that may share them
 * (a tenant: nobody reads another scope's blocks) and every adapter of the row that changes
 * them. An adapter changes the cache when it adapts a key or value projection, or any
 * projection below the last layer (whose output feeds the keys and values of the layers
 * above); one on the last layer's other projections leaves every cached entry as the base
 * model's. Token routing is part of the key when such an adapter takes part. The base model
 * is implicit: a scheduler serves one.
 */
export function prefixNamespace(
  config: DecoderConfig,
  scope: string,
  adapters: readonly KeyedAdapter[],
  tokenRouting: unknown,
): { key: string; adapterIds: string[] } {
  const changing = adapters.filter(({ projections }) => changesKv(config, projections));
  const key = JSON.stringify({
    scope,
    adapters: changing.map(({ id, weight }) => [id, weight]),
    routing: changing.length ? (tokenRouting ?? null) : null,
  });
  return { key: digest(key), adapterIds: changing.map(({ id }) => id) };
}

/** Whether an adapter adapting these projections reaches any layer's keys or values. */
export function changesKv(config: DecoderConfig, projections: Iterable<string>): boolean {
  for (const key of projections) {
    const parsed = parseProjectionKey(key);
    if (!parsed || parsed.layer < config.nLayers - 1 || kvModules.has(parsed.module)) return true;
  }
  return false;
}

/** Projections whose output is (or holds) a layer's keys or values. */
const kvModules = new Set(['self_attn.k_proj', 'self_attn.v_proj', 'attn.c_attn']);

interface CachedBlock {
  block: number;
  /** The adapters its namespace names, so a deletion can drop what they computed. */
  adapterIds: readonly string[];
}

/**
 * Prompt blocks kept after their request ends, so a later prompt with the same prefix (a
 * system prompt, a chat template, few-shot examples) reuses their keys and values instead of
 * computing them again. A block is keyed by its namespace and every token up to its end (a
 * chain: each key digests the previous key and the block's tokens), so a hit is always a
 * whole, identical prefix. The cache holds one reference per block; blocks only it holds are
 * evicted least recently used first when the KV budget needs room.
 */
export class PrefixCache {
  /** In least- to most-recently-used order (a Map keeps insertion order; a hit re-inserts). */
  private readonly entries = new Map<string, CachedBlock>();
  promptTokens = 0;
  hitTokens = 0;

  constructor(private readonly blocks: KvBlocks) {}

  /** The chain keys of the whole blocks of `tokens` before its last token (which a row always computes: its logits are needed). */
  keys(namespace: string, tokens: readonly number[]): string[] {
    const size = this.blocks.blockSize;
    const keys: string[] = [];
    let previous = namespace;
    for (let end = size; end <= tokens.length - 1; end += size) {
      previous = digest(previous, Int32Array.from(tokens.slice(end - size, end)));
      keys.push(previous);
    }
    return keys;
  }

  /** The cached blocks of the longest cached prefix, each retained for the caller. */
  lookup(keys: readonly string[]): number[] {
    const hit: number[] = [];
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (!entry) break;
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.blocks.retain(entry.block);
      hit.push(entry.block);
    }
    return hit;
  }

  /** Counts an admitted prompt and how many of its tokens came from the cache. */
  record(promptLength: number, cachedBlocks: number): void {
    this.promptTokens += promptLength;
    this.hitTokens += cachedBlocks * this.blocks.blockSize;
  }

  /** Keeps a filled prompt block under its key (first writer wins; the cache takes its own reference). */
  insert(key: string, block: number, adapterIds: readonly string[]): void {
    if (this.entries.has(key)) return;
    this.blocks.retain(block);
    this.entries.set(key, { block, adapterIds });
  }

  /** Blocks that only the cache holds: what eviction can free. */
  evictable(): number {
    let count = 0;
    for (const { block } of this.entries.values()) if (this.blocks.referencesOf(block) === 1) count++;
    return count;
  }

  /** Frees the least recently used block only the cache holds; false when there is none. */
  evictOne(): boolean {
    for (const [key, { block }] of this.entries) {
      if (this.blocks.referencesOf(block) !== 1) continue;
      this.entries.delete(key);
      this.blocks.release(block);
      return true;
    }
    return false;
  }

  /** Drops every block computed with an adapter `stale` names (a deletion); rows still using one keep it until they end. */
  drop(stale: (adapterId: string) => boolean): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if (!entry.adapterIds.some(stale)) continue;
      this.entries.delete(key);
      this.blocks.release(entry.block);
      dropped++;
    }
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }
}

function digest(text: string, tokens?: Int32Array): string {
  const hash = createHash('sha256').update(text);
  if (tokens) hash.update(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
  return hash.digest('hex');
}
