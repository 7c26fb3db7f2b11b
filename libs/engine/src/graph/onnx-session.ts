import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** Intra-op threads; fixed for reproducible benchmarks. */
  threads?: number;
  /** Where the one line about a CUDA fallback goes (default console.warn). */
  log?: (line: string) => void;
  /**
   * The folder of the weight file the graph references as external data: the graph is saved
   * there and loaded by path, so ONNX Runtime maps the weights from the file.
   */
  externalDataDir?: string;
  /**
   * Read dense weights straight from the mapped file, shared with every other session of the
   * process, instead of repacking a private copy (MLAS prepacking: faster GEMMs at batch > 1,
   * one more copy of the weights per session). Quantized MatMulNBits always packs.
   */
  shareWeights?: boolean;
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
export async function createSession(graph: Uint8Array, options: SessionOptions = {}): Promise<ort.InferenceSession> {
  const common: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    ...(options.shareWeights ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  const load = async (providers: ort.InferenceSession.SessionOptions) =>
    options.externalDataDir
      ? ort.InferenceSession.create(await saveBeside(graph, options.externalDataDir), providers)
      : ort.InferenceSession.create(graph, providers);
  if (options.executionProvider === 'cuda' && !cudaUnavailable) {
    try {
      return await load({ ...common, executionProviders: ['cuda'] });
    } catch (error) {
      // A graph that is itself broken fails again on CPU below, with its own error.
      cudaUnavailable = true;
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      (options.log ?? console.warn)(`onnxruntime: CUDA execution provider unavailable (${reason}); running on CPU`);
    }
  }
  return load({ ...common, executionProviders: ['cpu'] });
}

/** Saves a graph into its weight file's folder (once per distinct graph) and returns its path. */
async function saveBeside(graph: Uint8Array, dir: string): Promise<string> {
  const file = path.join(dir, `graph-${createHash('sha256').update(graph).digest('hex').slice(0, 24)}.onnx`);
  if (!existsSync(file)) {
    const staging = `${file}.${process.pid}.partial`;
    await writeFile(staging, graph);
    await rename(staging, file);
  }
  return file;
}

export function float32Tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, BigInt)), dims);
}

export { ort };
