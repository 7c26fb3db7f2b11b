import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Database } from '@tessera/db';
import { Redis } from 'ioredis';
import pg from 'pg';
import { UsageLedger, type UsageEntry } from './usage-ledger.js';

describe('the usage ledger', () => {
  const owner = new pg.Client({ connectionString: process.env.TEST_OWNER_DATABASE_URL });
  const database = new Database({ connectionString: process.env.TEST_DATABASE_URL!, maxConnections: 2 });
  const redis = new Redis(process.env.TEST_REDIS_URL!);
  // A stream of each test's own: every ledger's background writer reads its whole stream.
  const prefixes: string[] = [];
  const newStream = () => {
    prefixes.push(`usage-test-${randomUUID().slice(0, 8)}`);
    return { config: { QUEUE_PREFIX: prefixes.at(-1)! }, stream: `${prefixes.at(-1)!}:usage` };
  };
  const tenants = [`ten_usage_${randomUUID().slice(0, 8)}`, `ten_usage_${randomUUID().slice(0, 8)}`];
  const ledgers: UsageLedger[] = [];
  const ledger = (config: { QUEUE_PREFIX: string }) => {
    const made = new UsageLedger(redis, config, database);
    ledgers.push(made);
    return made;
  };
  let serial = 0;
  const entry = (tenantId: string): UsageEntry => ({
    id: `use_${randomUUID()}`,
    tenantId,
    apiKeyId: null,
    baseModelId: null,
    adapterId: null,
    adapterVersionId: null,
    promptTokens: 3,
    completionTokens: ++serial,
    requestId: `cmpl-${serial}`,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, serial)).toISOString(),
  });
  const stored = async (ids: string[]) =>
    (
      await owner.query('SELECT id, tenant_id, completion_tokens, created_at FROM usage_records WHERE id = ANY($1)', [
        ids,
      ])
    ).rows;

  before(async () => {
    await owner.connect();
    for (const id of tenants)
      await owner.query('INSERT INTO tenants (id, name, updated_at) VALUES ($1, $1, now())', [id]);
  });
  after(async () => {
    for (const made of ledgers) made.onModuleDestroy();
    await owner.query('DELETE FROM usage_records WHERE tenant_id = ANY($1)', [tenants]);
    await owner.query('DELETE FROM tenants WHERE id = ANY($1)', [tenants]);
    await owner.end();
    for (const prefix of prefixes) await redis.del(`${prefix}:usage`);
    redis.disconnect();
    await database.disconnect();
  });

  it("writes each tenant's entries under that tenant, as they were appended, and empties the stream", async () => {
    const { config, stream } = newStream();
    const writer = ledger(config);
    const entries = Array.from({ length: 7 }, (_, i) => entry(tenants[i % 2]!));
    await Promise.all(entries.map((e) => writer.append(e)));
    await writer.flush();
    const rows = await stored(entries.map((e) => e.id));
    assert.equal(rows.length, 7);
    for (const e of entries) {
      const row = rows.find((r) => r.id === e.id);
      assert.equal(row.tenant_id, e.tenantId);
      assert.equal(row.completion_tokens, e.completionTokens);
      assert.equal(new Date(row.created_at).toISOString(), e.createdAt);
    }
    assert.equal(await redis.xlen(stream), 0);
  });

  it('the background writer reaches Postgres within a few seconds without a read asking', async () => {
    const writer = ledger(newStream().config);
    const appended = entry(tenants[0]!);
    await writer.append(appended); // starts the writer
    const started = Date.now();
    while ((await stored([appended.id])).length === 0) {
      assert.ok(Date.now() - started < 5_000, 'not written within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });

  it('a dead writer’s pending entries are claimed by another after the claim delay, and a replay adds no row twice', async () => {
    const { config, stream } = newStream();
    const lost = [entry(tenants[0]!), entry(tenants[1]!)];
    await ledger(config).flush(); // creates the group; no writer runs until the survivor starts
    for (const e of lost) await redis.xadd(stream, '*', 'entry', JSON.stringify(e));
    const taken = (await redis.xreadgroup(
      'GROUP',
      'usage-writers',
      'crashed',
      'COUNT',
      10,
      'STREAMS',
      stream,
      '>',
    )) as [string, [string, string[]][]][];
    assert.equal(taken[0]![1].length, 2);
    // One of them had already reached Postgres before the crash: the replay must not double it.
    await database.withTenant({ tenantId: lost[0]!.tenantId }, (tx) =>
      tx.usageRecord.create({ data: { ...lost[0]!, createdAt: new Date(lost[0]!.createdAt) } }),
    );
    assert.equal((await stored(lost.map((e) => e.id))).length, 1);

    const survivor = ledger(config);
    survivor.claimAfterMs = 200;
    await new Promise((resolve) => setTimeout(resolve, 250));
    survivor.start();
    const started = Date.now();
    while ((await stored(lost.map((e) => e.id))).length < 2) {
      assert.ok(Date.now() - started < 5_000, 'the dead writer’s entries were not replayed within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const pendingCount = async () => Number(((await redis.xpending(stream, 'usage-writers')) as unknown[])[0]);
    const deadline = Date.now() + 2_000;
    while ((await pendingCount()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await pendingCount(), 0, 'the replayed entries were not acknowledged');
    assert.equal((await stored(lost.map((e) => e.id))).length, 2);
  });

  it('drops an entry that is not a usage record instead of retrying it forever', async () => {
    const { config, stream } = newStream();
    const writer = ledger(config);
    await redis.xadd(stream, '*', 'entry', '{not json');
    const good = entry(tenants[1]!);
    await writer.append(good);
    await writer.flush();
    assert.equal((await stored([good.id])).length, 1);
    assert.equal(await redis.xlen(stream), 0);
  });
});
