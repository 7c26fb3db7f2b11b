import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
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

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix, e.g. `tessera/` (keys are `<prefix><sha256>`). */
  prefix?: string;
  /** Where uploads are spooled while their hash is computed (default the OS temp directory). */
  spoolDir?: string;
}

/**
 * Blobs as objects in an S3-compatible bucket. The key is the content's hash, which is only
 * known once the stream ends, so a put spools to a local temporary file first (never to
 * memory), then uploads it with its SHA-256 for the server to check. Delete removes every
 * version of the object, so a versioned bucket keeps no copy.
 */
export class S3BlobStore implements BlobStore {
  private readonly prefix: string;

  constructor(private readonly options: S3BlobStoreOptions) {
    this.prefix = options.prefix ?? '';
  }

  async put(source: BlobSource, options: { maxBytes?: number } = {}): Promise<BlobRef> {
    const dir = this.options.spoolDir ?? os.tmpdir();
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
      if (!(await this.has(sha256))) {
        await this.options.client.send(
          new PutObjectCommand({
            Bucket: this.options.bucket,
            Key: this.keyOf(sha256),
            Body: createReadStream(spool),
            ContentLength: size,
            ChecksumSHA256: digest.toString('base64'),
          }),
        );
      }
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
    try {
      await this.options.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(sha256: string): Promise<boolean> {
    const key = this.keyOf(sha256);
    const existed = await this.has(sha256);
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

  private keyOf(sha256: string): string {
    return `${this.prefix}${checkAddress(sha256)}`;
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
