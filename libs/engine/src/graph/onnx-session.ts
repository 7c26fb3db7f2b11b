import * as ort from 'onnxruntime-node';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** Intra-op threads; fixed for reproducible benchmarks. */
  threads?: number;
  /** Where the one line about a CUDA fallback goes (default console.warn). */
  log?: (line: string) => void;
}

// ORT's own logger prints several native lines for a failure it also reports to us as an
// exception; we report it once, in our words.
ort.env.logLevel = 'fatal';

let cudaUnavailable = false;

/**
 * Loads a serialized graph into onnxruntime-node. CUDA when asked for; where its libraries
 * are missing (the npm package ships CPU binaries only) the graph runs on CPU and one line
 * per process says why.
 */
export async function createSession(model: Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const common: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
  };
  if (options.executionProvider === 'cuda' && !cudaUnavailable) {
    try {
      return await ort.InferenceSession.create(model, { ...common, executionProviders: ['cuda'] });
    } catch (error) {
      // A graph that is itself broken fails again on CPU below, with its own error.
      cudaUnavailable = true;
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      (options.log ?? console.warn)(`onnxruntime: CUDA execution provider unavailable (${reason}); running on CPU`);
    }
  }
  return ort.InferenceSession.create(model, { ...common, executionProviders: ['cpu'] });
}

export function float32Tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, BigInt)), dims);
}

export { ort };
