/**
 * Task-ID-free routing by request (DESIGN.md §5 `auto`): the input's pooled base-model
 * hidden state is compared with each candidate adapter's training centroid (the mean pooled
 * state over the data it was trained on), and the top k share the request by a softmax of
 * their similarities. Plain TypeScript: a few dot products per request.
 */
export interface RoutingKey {
  id: string;
  centroid: Float32Array;
}

export interface RoutedAdapter {
  id: string;
  weight: number;
  /** Cosine similarity of the input to the adapter's centroid. */
  score: number;
}

export interface CentroidRoutingOptions {
  /** Adapters to mix (default 1). */
  topK?: number;
  /** Softmax temperature over cosine similarities (default 0.05: similarities differ by hundredths). */
  temperature?: number;
}

export function routeByCentroid(
  pooled: Float32Array,
  candidates: readonly RoutingKey[],
  options: CentroidRoutingOptions = {},
): RoutedAdapter[] {
  const topK = Math.min(options.topK ?? 1, candidates.length);
  const temperature = options.temperature ?? 0.05;
  const scored = candidates.map((c) => {
    if (c.centroid.length !== pooled.length)
      throw new Error(
        `adapter ${c.id}: centroid has ${c.centroid.length} values, the model's hidden state ${pooled.length}`,
      );
    return { id: c.id, score: cosine(pooled, c.centroid) };
  });
  // Highest similarity first; ties broken by id so the choice never depends on candidate order.
  scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const chosen = scored.slice(0, topK);
  const top = chosen[0]?.score ?? 0;
  const exps = chosen.map((c) => Math.exp((c.score - top) / temperature));
  const total = exps.reduce((a, b) => a + b, 0);
  return chosen.map((c, i) => ({ id: c.id, score: c.score, weight: exps[i]! / total }));
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** A centroid as stored (adapter_versions.centroid): float32, little-endian, no header. */
export function encodeCentroid(centroid: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Float32Array.from(centroid).buffer);
}

/** The stored bytes back to a centroid (copied: the bytes may not be 4-byte aligned). */
export function decodeCentroid(bytes: Uint8Array): Float32Array {
  return new Float32Array(new Uint8Array(bytes).buffer);
}
