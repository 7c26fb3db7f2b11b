import * as ort from 'onnxruntime-node';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** Intra-op threads; fixed for reproducible benchmarks. */
  threads?: number;
}

/** Loads a serialized graph into onnxruntime-node. */
export async function createSession(model: Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: [options.executionProvider ?? 'cpu'],
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  });
}

export function float32Tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, BigInt)), dims);
}

export { ort };
