import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
// s3rver: an S3-compatible server in Node, so the S3 driver talks real S3 HTTP in tests.
import S3rver from 's3rver';
import {
  BlobCorruptedError,
  BlobNotFoundError,
  BlobRangeError,
  BlobTooLargeError,
  blobFile,
  type BlobStore,
} from './blob-store.js';
import { checkpointFile, FsCheckpointStore, S3CheckpointStore, type CheckpointStore } from './checkpoint-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { S3BlobStore } from './s3-blob-store.js';
import { tenantBlobStores } from './tenant-blob-stores.js';

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
  /** The platform checkpoint store at `org/model`, and how an operator puts a file there. */
  checkpoints: () => CheckpointStore;
  placeCheckpointFile: (file: string, bytes: string) => Promise<void>;
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
    checkpoints: () => new FsCheckpointStore(path.join(dataDir, 'checkpoints', 'org/model')),
    placeCheckpointFile: async (file, bytes) => {
      await mkdir(path.join(dataDir, 'checkpoints', 'org/model'), { recursive: true });
      await writeFile(path.join(dataDir, 'checkpoints', 'org/model', file), bytes);
    },
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
    checkpoints: () => new S3CheckpointStore(client, BUCKET, 'checkpoints/org/model/'),
    placeCheckpointFile: async (file, bytes) =>
      void (await client.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `checkpoints/org/model/${file}`, Body: bytes }),
      )),
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

    it('reads a byte range of a blob, refusing one past the end or of no blob', async () => {
      const store = driver.store();
      const ref = await store.put(new TextEncoder().encode('0123456789 ranged'));
      assert.equal(await store.size(ref.sha256), 17);
      assert.equal(new TextDecoder().decode(await store.readRange(ref.sha256, 2, 3)), '234');
      assert.equal(new TextDecoder().decode(await store.readRange(ref.sha256, 11, 6)), 'ranged');
      assert.equal((await store.readRange(ref.sha256, 17, 0)).length, 0);
      await assert.rejects(store.readRange(ref.sha256, 15, 3), BlobRangeError);
      await assert.rejects(store.readRange(ref.sha256, 40, 1), BlobRangeError);
      await assert.rejects(store.readRange(ref.sha256, -1, 1), BlobRangeError);
      const missing = sha('never stored');
      await assert.rejects(store.size(missing), BlobNotFoundError);
      await assert.rejects(store.readRange(missing, 0, 1), BlobNotFoundError);
      // The shape the engine reads shards through.
      const file = await blobFile(store, ref.sha256, 'model.safetensors');
      assert.deepEqual([file.name, file.size], ['model.safetensors', 17]);
      assert.equal(new TextDecoder().decode(await file.read(0, 4)), '0123');
    });

    it("reads a platform checkpoint's files in place, by range; names outside its folder are refused", async () => {
      await driver.placeCheckpointFile('config.json', '{"model_type":"llama"}');
      const store = driver.checkpoints();
      assert.equal(await store.size('config.json'), 22);
      assert.equal(await store.size('model.safetensors'), null);
      assert.equal(new TextDecoder().decode(await store.readRange('config.json', 2, 10)), 'model_type');
      await assert.rejects(store.readRange('config.json', 20, 3), BlobRangeError);
      await assert.rejects(store.readRange('model.safetensors', 0, 1), /does not exist/);
      await assert.rejects(store.size('../blobs/x'), /not a checkpoint file name/);
      assert.equal(await checkpointFile(store, 'tokenizer.json'), null);
      const config = (await checkpointFile(store, 'config.json'))!;
      assert.equal(new TextDecoder().decode(await config.read(0, config.size)), '{"model_type":"llama"}');
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

describe('platform checkpoint prefixes', () => {
  it("map to a folder beside the tenants' blobs, and never leave it", async () => {
    const stores = tenantBlobStores({ kind: 'fs', dataDir });
    assert.equal(
      stores.platformCheckpoint('meta/llama-3/').location,
      path.resolve(dataDir, 'checkpoints/meta/llama-3'),
    );
    for (const prefix of ['../blobs', 'a/../../b', '/etc', '', '.hidden', 'a//b'])
      assert.throws(() => stores.platformCheckpoint(prefix), /not a checkpoint prefix/, prefix);
  });
});
