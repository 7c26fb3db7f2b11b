import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { checkRange, type RangedFile } from './blob-store.js';
import { readFully } from './fs-blob-store.js';
import { objectSize, readObjectRange } from './s3-blob-store.js';

/**
 * A checkpoint the platform keeps in place: named files (config.json, the safetensors shards,
 * the tokenizer) under one prefix of the storage the blobs live in, put there by the platform's
 * operators with their own tools (a copy, `aws s3 sync`). Tessera never writes there: a base
 * model registered from a prefix is read from it directly, by byte range, by the gateway that
 * validates it and the workers that load it.
 */
export interface CheckpointStore {
  /** Where the files are, for messages: a directory, or `s3://bucket/key-prefix` (no trailing slash). */
  readonly location: string;
  /** A file's size in bytes; null when there is none. */
  size(file: string): Promise<number | null>;
  /** `length` bytes at `offset`; a range past the end is an error, never short bytes. */
  readRange(file: string, offset: number, length: number): Promise<Uint8Array>;
}

/** Where platform checkpoints live: beside the tenants' namespaces, which are tenant ids (`ten_…`). */
export const CHECKPOINTS_NAMESPACE = 'checkpoints';

/** A prefix: path segments of letters, digits, dot, dash and underscore, none starting with a dot (no `..`). */
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;
/** A file in a checkpoint's folder: one segment, so a name from an index can never leave the prefix. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The prefix without its trailing slash, refused unless it is only safe path segments. */
export function checkCheckpointPrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/$/, '');
  if (trimmed.length > 512 || !PREFIX.test(trimmed))
    throw new Error(`not a checkpoint prefix: ${JSON.stringify(prefix)}`);
  return trimmed;
}

function checkFileName(file: string): string {
  if (file.length > 255 || !FILE_NAME.test(file))
    throw new Error(`not a checkpoint file name: ${JSON.stringify(file)}`);
  return file;
}

/** A checkpoint file as a ranged file (what the engine reads shards through); null when it is not there. */
export async function checkpointFile(store: CheckpointStore, file: string): Promise<RangedFile | null> {
  const size = await store.size(file);
  if (size === null) return null;
  return { name: file, size, read: (offset, length) => store.readRange(file, offset, length) };
}

/** Files under `<dataDir>/checkpoints/<prefix>/`. */
export class FsCheckpointStore implements CheckpointStore {
  constructor(readonly location: string) {}

  async size(file: string): Promise<number | null> {
    try {
      const found = await stat(path.join(this.location, checkFileName(file)));
      return found.isFile() ? found.size : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async readRange(file: string, offset: number, length: number): Promise<Uint8Array> {
    let handle;
    try {
      handle = await open(path.join(this.location, checkFileName(file)), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(`${this.location}/${file} does not exist`);
      throw error;
    }
    try {
      checkRange(file, (await handle.stat()).size, offset, length);
      return await readFully(handle, offset, length);
    } finally {
      await handle.close();
    }
  }
}

/** Objects under `<S3_PREFIX>checkpoints/<prefix>/` in the blob store's bucket. */
export class S3CheckpointStore implements CheckpointStore {
  readonly location: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly keyPrefix: string,
  ) {
    this.location = `s3://${bucket}/${keyPrefix.replace(/\/$/, '')}`;
  }

  async size(file: string): Promise<number | null> {
    return objectSize(this.client, this.bucket, this.keyPrefix + checkFileName(file));
  }

  async readRange(file: string, offset: number, length: number): Promise<Uint8Array> {
    const bytes = await readObjectRange(this.client, this.bucket, this.keyPrefix + checkFileName(file), offset, length);
    if (bytes === null) throw new Error(`${this.location}/${file} does not exist`);
    return bytes;
  }
}
