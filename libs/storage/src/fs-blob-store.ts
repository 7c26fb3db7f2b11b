import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  BlobCorruptedError,
  BlobNotFoundError,
  BlobTooLargeError,
  checkAddress,
  chunksOf,
  type BlobRef,
  type BlobSource,
  type BlobStore,
} from './blob-store.js';

/**
 * Blobs as files under a data directory: `<root>/<first two hex digits>/<sha256>`. A put
 * streams into a temporary file beside them, fsyncs, then renames: readers see the whole
 * blob or none.
 */
export class FsBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  async put(source: BlobSource, options: { maxBytes?: number } = {}): Promise<BlobRef> {
    const tmpDir = path.join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    const file = await open(tmp, 'wx');
    try {
      for await (const chunk of chunksOf(source)) {
        size += chunk.byteLength;
        if (options.maxBytes !== undefined && size > options.maxBytes) throw new BlobTooLargeError(options.maxBytes);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(tmp, { force: true });
      throw error;
    }
    await file.close();
    const sha256 = hash.digest('hex');
    const target = this.pathOf(sha256);
    await mkdir(path.dirname(target), { recursive: true });
    await rename(tmp, target); // same content, same name: replacing an existing copy is harmless
    return { sha256, size };
  }

  async get(sha256: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(sha256);
      throw error;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new BlobCorruptedError(sha256, actual);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await stat(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }

  async delete(sha256: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(sha256));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  private pathOf(sha256: string): string {
    checkAddress(sha256);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }
}
