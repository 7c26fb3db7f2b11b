import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newId } from '@tessera/contracts';
import { Database } from '@tessera/db';
import { createJob } from '@tessera/domain';
import { blobSweepKey, lastBlobSweep } from '@tessera/queue';
import { tenantBlobStores } from '@tessera/storage';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startBlobSweeper, sweepBlobs, type BlobSweeperDeps } from './blob-sweeper.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

const DAY_MS = 86_400_000;
const twoDaysAgo = () => new Date(Date.now() - 2 * DAY_MS);
const bytesOf = (text: string) => new TextEncoder().encode(text);

/**
 * The blob sweeper against Postgres, Redis and a filesystem blob store in a temporary
 * directory: what a row of any blob column refers to stays however old, bytes no row refers
 * to go once past the grace period, staged uploads a crash left go once past it too, and the
 * counts it records are what it did.
 */
describe('blob sweeper: crashes leave bytes no deletion reaches, and the sweeper removes them', () => {
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';
  const prefix = `int-blob-sweep-${process.pid}`;
  const redis = new Redis(redisUrl);
  const database = new Database({ connectionString: requiredEnv('TEST_DATABASE_URL'), maxConnections: 2 });
  const owner = new pg.Client({ connectionString: requiredEnv('TEST_OWNER_DATABASE_URL') });
  const tenantA = newId('ten');
  const tenantB = newId('ten');
  let dataDir: string;
  let deps: BlobSweeperDeps;

  before(async () => {
    await owner.connect();
    for (const id of [tenantA, tenantB])
      await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [id]);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-sweep-'));
    // The real tenant list, narrowed to this file's tenants: other test files' stores are theirs.
    const ownTenants: Database = Object.assign(Object.create(database) as Database, {
      tenantIds: async () => (await database.tenantIds()).filter((id) => id === tenantA || id === tenantB),
    });
    deps = {
      database: ownTenants,
      blobs: tenantBlobStores({ kind: 'fs', dataDir }),
      redis,
      prefix,
      graceMs: DAY_MS,
      log: () => {},
    };
  });
  after(async () => {
    await redis.del(blobSweepKey(prefix), `${prefix}:blob-sweep-lock`);
    await redis.quit();
    await owner.query('DELETE FROM tenants WHERE id = ANY($1)', [[tenantA, tenantB]]);
    await owner.end();
    await database.disconnect();
    await rm(dataDir, { recursive: true, force: true });
  });

  const root = (tenantId: string) => path.join(dataDir, 'blobs', tenantId);
  const backdate = (tenantId: string, sha256: string, to = twoDaysAgo()) =>
    utimes(path.join(root(tenantId), sha256.slice(0, 2), sha256), to, to);
  /** A staged upload as a crash mid-write leaves it (the file system store's staging area). */
  async function stagedLeftover(tenantId: string, bytes: string, modifiedAt: Date): Promise<string> {
    const id = randomUUID();
    const file = path.join(root(tenantId), '.tmp', id);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, bytes);
    await utimes(file, modifiedAt, modifiedAt);
    return id;
  }
  async function staged(tenantId: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const upload of deps.blobs.forTenant(tenantId).staging()) ids.push(upload.id);
    return ids.sort();
  }

  /**
   * One case per column that holds a blob address: a row of tenant A referring to `sha256`.
   * The meta-test below fails when a table gains a blob column this table lacks.
   */
  const referrers: Record<string, (sha256: string) => Promise<void>> = {
    'datasets.blob': async (sha256) => {
      await owner.query(
        "INSERT INTO datasets (id, tenant_id, name, format, status, blob, updated_at) VALUES ($1, $2, $1, 'text', 'ready', $3, now())",
        [newId('ds'), tenantA, sha256],
      );
    },
    'base_models.weights_blob': async (sha256) => {
      await owner.query(
        "INSERT INTO base_models (id, tenant_id, name, architecture, config, weights_blob) VALUES ($1, $2, $1, 'gpt2', '{}', $3)",
        [newId('bm'), tenantA, sha256],
      );
    },
    'base_models.tokenizer_blob': async (sha256) => {
      await owner.query(
        "INSERT INTO base_models (id, tenant_id, name, architecture, config, status, tokenizer_blob) VALUES ($1, $2, $1, 'gpt2', '{}', 'uploading', $3)",
        [newId('bm'), tenantA, sha256],
      );
    },
    'base_model_shards.blob': async (sha256) => {
      const baseModelId = newId('bm');
      await owner.query(
        "INSERT INTO base_models (id, tenant_id, name, architecture, config, status) VALUES ($1, $2, $1, 'gpt2', '{}', 'uploading')",
        [baseModelId, tenantA],
      );
      await owner.query(
        "INSERT INTO base_model_shards (base_model_id, tenant_id, file, size, sha256, part_size, blob) VALUES ($1, $2, 'model.safetensors', 1, $3, 1, $3)",
        [baseModelId, tenantA, sha256],
      );
    },
    'base_model_shard_parts.blob': async (sha256) => {
      const baseModelId = newId('bm');
      await owner.query(
        "INSERT INTO base_models (id, tenant_id, name, architecture, config, status) VALUES ($1, $2, $1, 'gpt2', '{}', 'uploading')",
        [baseModelId, tenantA],
      );
      await owner.query(
        "INSERT INTO base_model_shards (base_model_id, tenant_id, file, size, sha256, part_size) VALUES ($1, $2, 'model.safetensors', 2, $3, 1)",
        [baseModelId, tenantA, sha256],
      );
      await owner.query(
        "INSERT INTO base_model_shard_parts (base_model_id, tenant_id, file, part_number, size, blob) VALUES ($1, $2, 'model.safetensors', 1, 1, $3)",
        [baseModelId, tenantA, sha256],
      );
    },
    'adapter_versions.weights_blob': async (sha256) => {
      const adapterId = newId('ad');
      await owner.query(
        "INSERT INTO adapters (id, tenant_id, name, base_model_id, updated_at) VALUES ($1, $2, $1, 'bm_00000000000000000000000001', now())",
        [adapterId, tenantA],
      );
      await owner.query(
        'INSERT INTO adapter_versions (id, tenant_id, adapter_id, version, rank, alpha, seed, weights_blob) VALUES ($1, $2, $3, 1, 8, 16, 0, $4)',
        [newId('adv'), tenantA, adapterId, sha256],
      );
    },
    'compositions.artifact_blob': async (sha256) => {
      await owner.query(
        "INSERT INTO compositions (id, tenant_id, name, method, artifact_blob, updated_at) VALUES ($1, $2, $1, 'linear', $3, now())",
        [newId('cmp'), tenantA, sha256],
      );
    },
    'checkpoints.blob': async (sha256) => {
      const job = await database.withTenant({ tenantId: tenantA }, (tx) =>
        createJob(tx, { tenantId: tenantA, kind: 'fine_tune', params: {} }),
      );
      await owner.query('INSERT INTO checkpoints (id, tenant_id, job_id, step, blob) VALUES ($1, $2, $3, 10, $4)', [
        newId('ckpt'),
        tenantA,
        job.id,
        sha256,
      ]);
    },
  };

  it('has a referring row for every column that holds a blob address', async () => {
    const { rows } = await owner.query<{ name: string }>(
      `SELECT table_name || '.' || column_name AS name FROM information_schema.columns
       WHERE table_schema = 'public' AND column_name LIKE '%blob%' ORDER BY 1`,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      Object.keys(referrers).sort(),
    );
  });

  it('keeps what rows refer to and what is young; removes old leftovers and old blobs no row refers to', async () => {
    const storeA = deps.blobs.forTenant(tenantA);
    const storeB = deps.blobs.forTenant(tenantB);
    const referenced: string[] = [];
    for (const [column, refer] of Object.entries(referrers)) {
      const ref = await storeA.put(bytesOf(`bytes of ${column}`));
      await refer(ref.sha256);
      await backdate(tenantA, ref.sha256);
      referenced.push(ref.sha256);
    }
    const orphan = await storeA.put(bytesOf('a crash came between this put and its row'));
    await backdate(tenantA, orphan.sha256);
    const young = await storeA.put(bytesOf('uploaded a moment ago, its row on the way'));
    // Tenant B holds the same bytes as one of A's datasets, but no row of B refers to them.
    const copyInB = await storeB.put(bytesOf('bytes of datasets.blob'));
    await backdate(tenantB, copyInB.sha256);
    const oldLeftover = await stagedLeftover(tenantA, 'half an upl', twoDaysAgo());
    const youngLeftover = await stagedLeftover(tenantA, 'in flight', new Date());

    const result = await sweepBlobs(deps);

    assert.ok(result);
    const { finishedAt, ...counts } = result;
    assert.deepEqual(counts, {
      leftoversFound: 1,
      leftoversRemoved: 1,
      unreferencedFound: 2,
      unreferencedRemoved: 2,
      bytesReclaimed: 'half an upl'.length + orphan.size + copyInB.size,
      failedTenants: 0,
    });
    assert.ok(Date.now() - finishedAt.getTime() < 60_000);
    for (const sha256 of referenced) assert.equal(await storeA.has(sha256), true, `referenced ${sha256} kept`);
    assert.equal(await storeA.has(young.sha256), true, 'a young blob is kept');
    assert.equal(await storeA.has(orphan.sha256), false, 'an old blob no row refers to is removed');
    assert.equal(await storeB.has(copyInB.sha256), false, "another tenant's rows do not keep a tenant's bytes");
    assert.equal(await storeA.has(copyInB.sha256), true);
    assert.deepEqual(await staged(tenantA), [youngLeftover], 'the old leftover is removed, the young one kept');
    assert.ok(!(await staged(tenantA)).includes(oldLeftover));
    assert.deepEqual(await lastBlobSweep(redis, prefix), result, 'recorded for /metrics');

    // Nothing left to do: a second pass finds nothing.
    const again = await sweepBlobs(deps);
    assert.equal(again!.unreferencedFound + again!.leftoversFound + again!.bytesReclaimed, 0);
  });

  it('keeps an old blob that a put has just stored again, for a row about to commit', async () => {
    const store = deps.blobs.forTenant(tenantA);
    const ref = await store.put(bytesOf('orphaned once, uploaded again'));
    await backdate(tenantA, ref.sha256);
    await store.put(bytesOf('orphaned once, uploaded again'));
    const result = await sweepBlobs(deps);
    assert.equal(result!.unreferencedFound, 0);
    assert.equal(await store.has(ref.sha256), true);
  });

  it('leaves the pass to the worker that holds the sweep', async () => {
    await redis.set(`${prefix}:blob-sweep-lock`, 'another worker', 'PX', 10_000);
    try {
      assert.equal(await sweepBlobs(deps), null);
    } finally {
      await redis.del(`${prefix}:blob-sweep-lock`);
    }
  });

  it('sweeps at start when no recent sweep is recorded, not when one is, and stops when told', async () => {
    await redis.del(blobSweepKey(prefix));
    const first = new AbortController();
    const running = startBlobSweeper(deps, 60_000, first.signal);
    let recorded = await lastBlobSweep(redis, prefix);
    for (let i = 0; !recorded && i < 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      recorded = await lastBlobSweep(redis, prefix);
    }
    first.abort();
    await running;
    assert.ok(recorded, 'a sweep ran at start');

    // Another worker starting within the interval does not sweep again.
    const second = new AbortController();
    const restarted = startBlobSweeper(deps, 60_000, second.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    second.abort();
    await restarted;
    assert.deepEqual(await lastBlobSweep(redis, prefix), recorded);
  });
});
