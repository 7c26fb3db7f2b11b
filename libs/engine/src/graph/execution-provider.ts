import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

/**
 * Where graphs run. `webgpu` is built into onnxruntime-node's own Linux library (Dawn over
 * Vulkan: it needs a GPU driver with Vulkan and `libvulkan.so.1`); `cuda` needs ORT's CUDA
 * provider libraries, which the npm package does not ship (the CUDA worker image installs them).
 */
export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** What a provider computes on: a GPU's name and memory, or the host's CPU and memory. */
export interface ComputeDevice {
  name: string;
  /** Its memory in bytes; null when it could not be read. */
  memoryBytes: number | null;
}

/** The provider a process asked for, the one its sessions got, and why they differ. */
export interface ProviderStatus {
  requested: ExecutionProvider;
  active: ExecutionProvider;
  /** Why `requested` could not be used (its first error line); absent when it is active. */
  fallback?: string;
  device: ComputeDevice;
}

/**
 * Providers found unusable in this process and why. A provider fails the same way for every
 * graph (a missing library or driver), so it is tried once and not again.
 */
const unusable = new Map<ExecutionProvider, string>();

/** Why `provider` cannot be used in this process; undefined while it can (or was not tried). */
export function unusableReason(provider: ExecutionProvider): string | undefined {
  return unusable.get(provider);
}

export function markUnusable(provider: ExecutionProvider, reason: string): void {
  unusable.set(provider, reason);
}

/** The device a provider computes on. GPUs are read from nvidia-smi where it is installed. */
export async function computeDevice(provider: ExecutionProvider): Promise<ComputeDevice> {
  if (provider === 'cpu') return { name: os.cpus()[0]?.model.trim() || os.arch(), memoryBytes: os.totalmem() };
  return (await nvidiaGpu()) ?? { name: `${provider} device (nvidia-smi not available to name it)`, memoryBytes: null };
}

/** The first GPU nvidia-smi lists, or null without one. */
async function nvidiaGpu(): Promise<ComputeDevice | null> {
  try {
    const { stdout } = await promisify(execFile)(
      'nvidia-smi',
      ['--query-gpu=name,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 5000 },
    );
    // "NVIDIA H200, 143771": the name, then MiB. Names hold no comma; the memory is the last field.
    const line = stdout.split('\n')[0] ?? '';
    const comma = line.lastIndexOf(',');
    const mib = Number(line.slice(comma + 1));
    if (comma < 1 || !Number.isFinite(mib)) return null;
    return { name: line.slice(0, comma).trim(), memoryBytes: mib * 2 ** 20 };
  } catch {
    return null;
  }
}
