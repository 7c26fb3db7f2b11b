import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  computeDevice,
  markUnusable,
  unusableReason,
  type ExecutionProvider,
  type ProviderStatus,
} from './execution-provider.js';
import { GraphBuilder } from './graph-builder.js';

export interface SessionOptions {
  executionProvider?: ExecutionProvider;
  /** Intra-op threads; fixed for reproducible benchmarks. */
  threads?: number;
  /** Where the one line about a provider's fallback to CPU goes (default console.warn). */
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

/**
 * Loads a serialized graph into onnxruntime-node on the provider asked for. Where that
 * provider cannot start (CUDA's libraries are not in the npm package; WebGPU needs a Vulkan
 * GPU driver) the graph runs on CPU, and one line per process and provider says why. Nodes a
 * GPU provider has no kernel for run on CPU inside the same session (ORT partitions the graph).
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
  const provider = options.executionProvider ?? 'cpu';
  if (provider !== 'cpu' && unusableReason(provider) === undefined) {
    try {
      return await load({ ...common, executionProviders: [provider] });
    } catch (error) {
      // A graph that is itself broken fails again on CPU below, with its own error.
      const reason = providerFailure(error);
      markUnusable(provider, reason);
      (options.log ?? console.warn)(
        `onnxruntime: ${provider} execution provider unavailable (${reason}); running on CPU`,
      );
    }
  }
  return load({ ...common, executionProviders: ['cpu'] });
}

/**
 * Tries `requested` on a one-node graph, so a process knows at start which provider its
 * sessions will get (and says so once if it falls back), and on what device.
 */
export async function probeExecutionProvider(
  requested: ExecutionProvider,
  log?: (line: string) => void,
): Promise<ProviderStatus> {
  const g = new GraphBuilder('provider_probe');
  const x = g.input('x', 'float32', ['n']);
  g.output(g.op('Mul', [x, g.scalar(2)], { shape: ['n'] }), 'y');
  const session = await createSession(g.serialize(), { executionProvider: requested, ...(log ? { log } : {}) });
  try {
    const { y } = await session.run({ x: float32Tensor(Float32Array.of(1.5), [1]) });
    const value = (y?.data as Float32Array | undefined)?.[0];
    if (value !== 3) throw new Error(`the ${requested} provider probe computed ${value} for 2 × 1.5`);
  } finally {
    await session.release();
  }
  const fallback = unusableReason(requested);
  const active = fallback === undefined ? requested : 'cpu';
  return { requested, active, ...(fallback === undefined ? {} : { fallback }), device: await computeDevice(active) };
}

/**
 * A provider's start failure in one line: ORT's first line, less the source location and the
 * failed check it may lead with ("/onnxruntime_src/…/webgpu_context.cc:136 … was false. Failed
 * to get a WebGPU adapter: No supported adapters").
 */
function providerFailure(error: unknown): string {
  const line = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
  return line.replace(/^\/\S+:\d+ .*? was false\. /, '') || 'no reason given';
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

export function boolTensor(values: ArrayLike<boolean>, dims: number[]): ort.Tensor {
  return new ort.Tensor('bool', Uint8Array.from(Array.from(values, Number)), dims);
}

export { ort };
