import { open } from 'node:fs/promises';

/**
 * One safetensors file as byte ranges, wherever it is kept (a file, a blob store, memory):
 * a checkpoint is read a tensor at a time, so loading never holds it whole, let alone twice.
 */
export interface ShardSource {
  /** What problems call it: the shard's file name. */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A shard already in memory (tests, small uploads). */
export function memoryShard(name: string, bytes: Uint8Array): ShardSource {
  return {
    name,
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/** A shard on the local filesystem, read by position. */
export async function fileShard(file: string, name = file): Promise<ShardSource> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return {
      name,
      size,
      read: async (offset, length) => {
        const reader = await open(file, 'r');
        try {
          const bytes = new Uint8Array(length);
          let done = 0;
          while (done < length) {
            const { bytesRead } = await reader.read(bytes, done, length - done, offset + done);
            if (bytesRead === 0)
              throw new Error(`${name}: ended at byte ${offset + done}, expected ${offset + length}`);
            done += bytesRead;
          }
          return bytes;
        } finally {
          await reader.close();
        }
      },
    };
  } finally {
    await handle.close();
  }
}
