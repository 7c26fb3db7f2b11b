import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  BlobCorruptedError,
  BlobNotFoundError,
  BlobTooLargeError,
  checkAddress,
  checkRange,
  chunksOf,
  SHA256_HEX,
  type BlobRef,
  type BlobSource,
  type BlobStore,
  type StagedUpload,
  type StoredBlob,
} from './blob-store.js';

/** What put names its staged files: a random UUID, so an id from outside can never name another path. */
const STAGED_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHARD_NAME = /^[0-9a-f]{2}$/;

/**
 * Blobs as files under a data directory: `<root>/<first two hex digits>/<sha256>`. A put
 * streams into a staged file under `<root>/.tmp`, fsyncs, then renames: readers see the whole
 * blob or none, and a crash mid-write leaves only the staged file.
 */
export class FsBlobStore implements BlobStore {
  private readonly stagingDir: string;

  constructor(readonly root: string) {
    this.stagingDir = path.join(root, '.tmp');
  }

  async put(source: BlobSource, options: { maxBytes?: number } = {}): Promise<BlobRef> {
    await mkdir(this.stagingDir, { recursive: true });
    const tmp = path.join(this.stagingDir, randomUUID());
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
    // Same content, same name: replacing an existing copy is harmless, and its fresh mtime
    // tells the sweeper a row may be about to refer to it.
    await rename(tmp, target);
    return { sha256, size };
  }

  async get(sha256: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(sha256));
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(sha256);
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

  async size(sha256: string): Promise<number> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(sha256);
      throw error;
    }
  }

  async readRange(sha256: string, offset: number, length: number): Promise<Uint8Array> {
    let file;
    try {
      file = await open(this.pathOf(sha256), 'r');
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(sha256);
      throw error;
    }
    try {
      checkRange(`blob ${sha256}`, (await file.stat()).size, offset, length);
      return await readFully(file, offset, length);
    } finally {
      await file.close();
    }
  }

  async delete(sha256: string, options: { unmodifiedSince?: Date } = {}): Promise<boolean> {
    const file = this.pathOf(sha256);
    try {
      if (options.unmodifiedSince && (await stat(file)).mtime > options.unmodifiedSince) return false;
      await unlink(file);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const shard of await namesIn(this.root)) {
      if (!SHARD_NAME.test(shard)) continue;
      for (const name of await namesIn(path.join(this.root, shard))) {
        if (!SHA256_HEX.test(name) || !name.startsWith(shard)) continue;
        const found = await statOrNull(path.join(this.root, shard, name));
        if (found) yield { sha256: name, bytes: found.size, modifiedAt: found.mtime };
      }
    }
  }

  async *staging(): AsyncIterable<StagedUpload> {
    for (const name of await namesIn(this.stagingDir)) {
      if (!STAGED_NAME.test(name)) continue;
      const found = await statOrNull(path.join(this.stagingDir, name));
      if (found) yield { id: name, bytes: found.size, modifiedAt: found.mtime };
    }
  }

  async removeStaged(id: string): Promise<boolean> {
    if (!STAGED_NAME.test(id)) throw new Error(`not a staged upload id: ${JSON.stringify(id)}`);
    try {
      await unlink(path.join(this.stagingDir, id));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  private pathOf(sha256: string): string {
    checkAddress(sha256);
    return path.join(this.root, sha256.slice(0, 2), sha256);
  }
}

/** `length` bytes at `offset` of an open file (a positional read may return fewer than asked). */
export async function readFully(file: FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(bytes, done, length - done, offset + done);
    if (bytesRead === 0) throw new Error(`the file ended at byte ${offset + done}, expected ${offset + length}`);
    done += bytesRead;
  }
  return bytes;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** A directory's entry names; none when it does not exist (a tenant that never stored anything). */
async function namesIn(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}

/** A file's size and mtime; null when it went away since its directory was read (deleted, or renamed into place). */
async function statOrNull(file: string): Promise<{ size: number; mtime: Date } | null> {
  try {
    const found = await stat(file);
    return found.isFile() ? found : null;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}
