import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  BlobCorruptedError,
  BlobNotFoundError,
  BlobRangeError,
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

/** What put names its spool files; an id from outside that is not one names no file. */
const SPOOL_NAME = /^tessera-upload-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix, e.g. `tessera/` (keys are `<prefix><sha256>`). */
  prefix?: string;
  /**
   * Where uploads are spooled while their hash is computed (default the OS temp directory).
   * `staging()` lists this directory: give each store its own.
   */
  spoolDir?: string;
}

/**
 * Blobs as objects in an S3-compatible bucket. The key is the content's hash, which is only
 * known once the stream ends, so a put spools to a local temporary file first (never to
 * memory; the spool is its staging area), then uploads it in one PutObject with its SHA-256
 * for the server to check: S3 makes a single-request object visible whole or not at all, so
 * no partial object or unfinished multipart upload is ever left in the bucket. Delete removes
 * every version of the object, so a versioned bucket keeps no copy.
 */
export class S3BlobStore implements BlobStore {
  private readonly prefix: string;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.prefix = options.prefix ?? '';
  }

  async put(source: BlobSource, options: { maxBytes?: number } = {}): Promise<BlobRef> {
    const dir = this.spoolDir();
    await mkdir(dir, { recursive: true });
    const spool = path.join(dir, `tessera-upload-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const file = await open(spool, 'wx');
    try {
      try {
        for await (const chunk of chunksOf(source)) {
          size += chunk.byteLength;
          if (options.maxBytes !== undefined && size > options.maxBytes) throw new BlobTooLargeError(options.maxBytes);
          hash.update(chunk);
          await file.write(chunk);
        }
      } finally {
        await file.close();
      }
      const digest = hash.digest();
      const sha256 = digest.toString('hex');
      // Uploaded even when the object exists: its fresh LastModified tells the sweeper that a
      // row may be about to refer to it (an old copy no row refers to would otherwise be swept).
      await this.options.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: this.keyOf(sha256),
          Body: createReadStream(spool),
          ContentLength: size,
          ChecksumSHA256: digest.toString('base64'),
        }),
      );
      return { sha256, size };
    } finally {
      await rm(spool, { force: true });
    }
  }

  async get(sha256: string): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      const object = await this.options.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }),
      );
      bytes = await object.Body!.transformToByteArray();
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(sha256);
      throw error;
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw new BlobCorruptedError(sha256, actual);
    return bytes;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.lastModified(sha256)) !== null;
  }

  async size(sha256: string): Promise<number> {
    const size = await objectSize(this.options.client, this.options.bucket, this.keyOf(sha256));
    if (size === null) throw new BlobNotFoundError(sha256);
    return size;
  }

  async readRange(sha256: string, offset: number, length: number): Promise<Uint8Array> {
    const bytes = await readObjectRange(this.options.client, this.options.bucket, this.keyOf(sha256), offset, length);
    if (bytes === null) throw new BlobNotFoundError(sha256);
    return bytes;
  }

  async delete(sha256: string, options: { unmodifiedSince?: Date } = {}): Promise<boolean> {
    const key = this.keyOf(sha256);
    const modifiedAt = await this.lastModified(sha256);
    if (modifiedAt && options.unmodifiedSince && modifiedAt > options.unmodifiedSince) return false;
    const existed = modifiedAt !== null;
    let versions: { Key: string; VersionId: string }[] = [];
    try {
      const listed = await this.options.client.send(
        new ListObjectVersionsCommand({ Bucket: this.options.bucket, Prefix: key }),
      );
      versions = [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])]
        .filter((v) => v.Key === key && v.VersionId && v.VersionId !== 'null')
        .map((v) => ({ Key: key, VersionId: v.VersionId! }));
    } catch {
      // A server without versioning support: a plain delete below erases the only copy.
    }
    // Versioned: delete each version (a plain delete would only add a delete marker). Else one plain delete.
    if (versions.length)
      await this.options.client.send(
        new DeleteObjectsCommand({ Bucket: this.options.bucket, Delete: { Objects: versions, Quiet: true } }),
      );
    else await this.options.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }));
    return existed;
  }

  async *list(): AsyncIterable<StoredBlob> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.options.client.send(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.prefix, ContinuationToken }),
      );
      for (const object of page.Contents ?? []) {
        const sha256 = object.Key?.slice(this.prefix.length) ?? '';
        if (SHA256_HEX.test(sha256) && object.LastModified)
          yield { sha256, bytes: object.Size ?? 0, modifiedAt: object.LastModified };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async *staging(): AsyncIterable<StagedUpload> {
    const dir = this.spoolDir();
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of names.filter((n) => SPOOL_NAME.test(n))) {
      try {
        const found = await stat(path.join(dir, name));
        yield { id: name, bytes: found.size, modifiedAt: found.mtime };
      } catch (error) {
        // Gone since the directory was read: its put finished.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  async removeStaged(id: string): Promise<boolean> {
    if (!SPOOL_NAME.test(id)) throw new Error(`not a staged upload id: ${JSON.stringify(id)}`);
    try {
      await unlink(path.join(this.spoolDir(), id));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** The object's LastModified (S3 keeps whole seconds); null when there is none. */
  private async lastModified(sha256: string): Promise<Date | null> {
    try {
      const head = await this.options.client.send(
        new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }),
      );
      // A server that sends no date: as if just written, so a sweep never takes it for old.
      return head.LastModified ?? new Date();
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  private spoolDir(): string {
    return this.options.spoolDir ?? os.tmpdir();
  }

  private keyOf(sha256: string): string {
    return `${this.prefix}${checkAddress(sha256)}`;
  }
}

/** An object's size in bytes; null when there is none. */
export async function objectSize(client: S3Client, bucket: string, key: string): Promise<number | null> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength ?? 0;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/**
 * `length` bytes at `offset` of an object, by one ranged GET; null when there is no object.
 * A range past the end is refused (BlobRangeError), never answered with fewer bytes.
 */
export async function readObjectRange(
  client: S3Client,
  bucket: string,
  key: string,
  offset: number,
  length: number,
): Promise<Uint8Array | null> {
  checkRange(key, Number.MAX_SAFE_INTEGER, offset, length);
  const refused = async () => {
    const size = await objectSize(client, bucket, key);
    if (size === null) return null;
    checkRange(key, size, offset, length);
    return size;
  };
  // An empty range has no Range header to send: only the object's existence and size matter.
  if (length === 0) return (await refused()) === null ? null : new Uint8Array(0);
  let bytes: Uint8Array;
  let total: number;
  try {
    const object = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }),
    );
    bytes = await object.Body!.transformToByteArray();
    total = Number(/\/(\d+)$/.exec(object.ContentRange ?? '')?.[1] ?? offset + bytes.length);
  } catch (error) {
    if (isNotFound(error)) return null;
    // 416: the range starts past the end.
    if ((error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === 416) {
      if ((await refused()) === null) return null;
    }
    throw error;
  }
  if (bytes.length !== length) throw new BlobRangeError(key, total, offset, length);
  return bytes;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
