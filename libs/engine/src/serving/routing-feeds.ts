import type { Tensor as OrtTensor } from 'onnxruntime-node';
import { float32Tensor, int64Tensor } from '../graph/onnx-session.js';
import type { DecoderSession } from '../model/decoder-session.js';
import type { SlotPool } from './slot-pool.js';

/** How one row of a pass uses the slot pool. */
export interface RowRouting {
  /** The slot of each of its adapters (none: the base model). */
  slots: readonly number[];
  /** Each adapter's gate when the gates are fixed. */
  weights: readonly number[];
  tokenRouting?: { kind: 'arrow'; topK: number } | { kind: 'learned' };
}

/** Whether a session's graph routes tokens (takes router vectors and per-row router inputs). */
export const routes = (session: DecoderSession): boolean => session.graph.lora?.router === true;

/**
 * The LoRA feeds of one pass: the pool, slots [B, k] and gates [B, T, k] with k the most
 * adapters any row mixes; a row with fewer fills the rest with slot 0 (the zero adapter) at
 * gate 0, the base model with none. A token-routed row marks its adapters with gate 1: the
 * graph routes among those. A graph that skips untouched projections learns which the rows' adapters touch.
 */
export function routingFeeds(
  pool: SlotPool,
  session: DecoderSession,
  rows: readonly RowRouting[],
  width: number,
): Record<string, OrtTensor> {
  const k = Math.max(1, ...rows.map((row) => row.slots.length));
  const slots: number[] = [];
  const gates = new Float32Array(rows.length * width * k);
  rows.forEach((row, r) => {
    for (let j = 0; j < k; j++) slots.push(row.slots[j] ?? 0);
    for (let t = 0; t < width; t++)
      for (let j = 0; j < row.slots.length; j++)
        gates[(r * width + t) * k + j] = row.tokenRouting ? 1 : row.weights[j]!;
  });
  return {
    ...pool.feeds(routes(session)),
    ...(session.graph.lora?.skipUntouched ? pool.activeFeeds(slots) : {}),
    slots: int64Tensor(slots, [rows.length, k]),
    gates: float32Tensor(gates, [rows.length, width, k]),
    ...routerFeeds(session, rows),
  };
}

/** router_top_k and router_abs [B] for graphs that route tokens: 0 (fixed gates) for rows that do not. */
function routerFeeds(session: DecoderSession, rows: readonly RowRouting[]): Record<string, OrtTensor> {
  if (!routes(session)) return {};
  const batch = Math.max(1, rows.length);
  const topK = new Float32Array(batch);
  const absolute = new Float32Array(batch);
  rows.forEach((row, r) => {
    const routing = row.tokenRouting;
    if (!routing) return;
    topK[r] = routing.kind === 'arrow' ? Math.min(routing.topK, row.slots.length) : row.slots.length;
    absolute[r] = routing.kind === 'arrow' ? 1 : 0;
  });
  return { router_top_k: float32Tensor(topK, [batch]), router_abs: float32Tensor(absolute, [batch]) };
}
