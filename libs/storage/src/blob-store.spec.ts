import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
// s3rver: an S3-compatible server in Node, so the S3 driver talks real S3 HTTP in tests.
import S3rver from 's3rver';
import { BlobCorruptedError, BlobNotFoundError, BlobTooLargeError, type BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

async function* chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Polls until `probe` finds something (a put's first bytes reaching its staging area). */
async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('timed out waiting');
}

/** A source that yields `first`, then waits: the put stays mid-write until it is finished or failed. */
function pausedSource(first: string) {
  let release!: (last: string | Error) => void;
  const rest = new Promise<string | Error>((resolve) => (release = resolve));
  async function* source(): AsyncIterable<Uint8Array> {
    yield new TextEncoder().encode(first);
    const last = await rest;
    if (last instanceof Error) throw last;
    yield new TextEncoder().encode(last);
  }
  return { source: source(), finish: (last: string) => release(last), fail: (error: Error) => release(error) };
}

interface Driver {
  name: string;
  store: () => BlobStore;
  /** Overwrites a stored blob's bytes behind the store's back. */
  tamper: (sha256: string, bytes: string) => Promise<void>;
  /** Every stored object or file, to show nothing is left behind. */
  listing: () => Promise<string[]>;
  /** Sets when a stored blob was last written, as if it had been stored then. */
  backdate: (sha256: string, to: Date) => Promise<void>;
}

let dataDir: string;
let s3Dir: string;
let s3Server: { run(): Promise<{ port: number }>; close(): Promise<void> };
let client: S3Client;
const BUCKET = 'tessera-test';

before(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-blobs-'));
  s3Dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-s3-'));
  s3Server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3Dir });
  const { port } = await s3Server.run();
  client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

after(async () => {
  client?.destroy();
  await s3Server?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(s3Dir, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

const drivers: Driver[] = [
  {
    name: 'filesystem',
    store: () => new FsBlobStore(path.join(dataDir, 'blobs')),
    tamper: (sha256, bytes) => writeFile(path.join(dataDir, 'blobs', sha256.slice(0, 2), sha256), bytes),
    listing: () => filesUnder(path.join(dataDir, 'blobs')),
    backdate: (sha256, to) => utimes(path.join(dataDir, 'blobs', sha256.slice(0, 2), sha256), to, to),
  },
  {
    name: 'S3-compatible',
    store: () => new S3BlobStore({ client, bucket: BUCKET, prefix: 'blobs/', spoolDir: path.join(dataDir, 'spool') }),
    tamper: async (sha256, bytes) =>
      void (await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `blobs/${sha256}`, Body: bytes }))),
    listing: async () => [
      ...(await filesUnder(path.join(s3Dir, BUCKET))).filter(
        (f) => !f.endsWith('._S3rver_metadata.json') && !f.endsWith('._S3rver_object.md5'),
      ),
      ...(await filesUnder(path.join(dataDir, 'spool'))),
    ],
    // s3rver reports its object file's mtime as LastModified.
    backdate: (sha256, to) => utimes(path.join(s3Dir, BUCKET, 'blobs', `${sha256}._S3rver_object`), to, to),
  },
];

for (const driver of drivers) {
  describe(`${driver.name} blob store`, () => {
    it('stores streamed bytes under their sha256 and reads them back verified', async () => {
      const store = driver.store();
      const ref = await store.put(chunks('hello, ', 'blob ', 'world'));
      assert.deepEqual(ref, { sha256: sha('hello, blob world'), size: 17 });
      assert.equal(new TextDecoder().decode(await store.get(ref.sha256)), 'hello, blob world');
      assert.equal(await store.has(ref.sha256), true);
      // Same content, same address: storing twice keeps one blob.
      assert.deepEqual(await store.put(new TextEncoder().encode('hello, blob world')), ref);
    });

    it('refuses a blob over the size limit and stores nothing', async () => {
      const store = driver.store();
      const before = await driver.listing();
      await assert.rejects(store.put(chunks('12345', '67890'), { maxBytes: 8 }), BlobTooLargeError);
      assert.equal(await store.has(sha('1234567890')), false);
      assert.deepEqual(await driver.listing(), before);
    });

    it('notices corrupted bytes on read', async () => {
      const store = driver.store();
      const ref = await store.put(new TextEncoder().encode('original bytes'));
      await driver.tamper(ref.sha256, 'tampered bytes');
      await assert.rejects(store.get(ref.sha256), BlobCorruptedError);
    });

    it('delete erases: the address no longer reads, and no copy is left', async () => {
      const store = driver.store();
      const ref = await store.put(new TextEncoder().encode('to be erased'));
      assert.equal(await store.delete(ref.sha256), true);
      await assert.rejects(store.get(ref.sha256), BlobNotFoundError);
      assert.equal(await store.has(ref.sha256), false);
      assert.ok(!(await driver.listing()).some((f) => f.includes(ref.sha256)));
      assert.equal(await store.delete(ref.sha256), false);
    });

    it('refuses an address that is not a sha256 digest', async () => {
      await assert.rejects(driver.store().get('../../etc/passwd'), /not a sha256 address/);
    });

    it('stages a put until its bytes are whole: mid-write, no blob is at any address', async () => {
      const store = driver.store();
      const blobsBefore = await all(store.list());
      const upload = pausedSource('first part, ');
      const put = store.put(upload.source);
      const staged = await until(async () => (await all(store.staging())).find((s) => s.bytes === 12));
      assert.ok(Date.now() - staged.modifiedAt.getTime() < 60_000);
      // A crash now would leave only the staged bytes: the store's blobs are what they were.
      assert.deepEqual(await all(store.list()), blobsBefore);
      upload.finish('second part');
      const ref = await put;
      assert.deepEqual(await all(store.staging()), []);
      const stored = (await all(store.list())).find((b) => b.sha256 === ref.sha256);
      assert.equal(stored?.bytes, 23);
      assert.equal(ref.sha256, sha('first part, second part'));
    });

    it('removes a staged upload by its id, and refuses an id that is not one', async () => {
      const store = driver.store();
      const upload = pausedSource('abandoned');
      const put = store.put(upload.source);
      const staged = await until(async () => (await all(store.staging())).find((s) => s.bytes === 9));
      assert.equal(await store.removeStaged(staged.id), true);
      assert.equal(await store.removeStaged(staged.id), false);
      assert.deepEqual(await all(store.staging()), []);
      upload.fail(new Error('client went away'));
      await assert.rejects(put, /client went away/);
      assert.ok(!(await driver.listing()).some((f) => f.includes(staged.id)));
      await assert.rejects(store.removeStaged('../ab/cd'), /not a staged upload id/);
    });

    it('lists blobs with their size and age; storing the same content again makes it young', async () => {
      const store = driver.store();
      const ref = await store.put(new TextEncoder().encode('listed with its age'));
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      await driver.backdate(ref.sha256, twoDaysAgo);
      const old = (await all(store.list())).find((b) => b.sha256 === ref.sha256);
      assert.equal(old?.bytes, 19);
      assert.ok(Math.abs(old!.modifiedAt.getTime() - twoDaysAgo.getTime()) < 2_000, String(old?.modifiedAt));
      await store.put(new TextEncoder().encode('listed with its age'));
      const young = (await all(store.list())).find((b) => b.sha256 === ref.sha256);
      assert.ok(Date.now() - young!.modifiedAt.getTime() < 60_000, String(young?.modifiedAt));
    });

    it('delete with unmodifiedSince keeps a blob written since, and erases an older one', async () => {
      const store = driver.store();
      const ref = await store.put(new TextEncoder().encode('swept only when old'));
      const anHourAgo = new Date(Date.now() - 3_600_000);
      assert.equal(await store.delete(ref.sha256, { unmodifiedSince: anHourAgo }), false);
      assert.equal(await store.has(ref.sha256), true);
      await driver.backdate(ref.sha256, new Date(Date.now() - 7_200_000));
      assert.equal(await store.delete(ref.sha256, { unmodifiedSince: anHourAgo }), true);
      assert.equal(await store.has(ref.sha256), false);
    });
  });
}
