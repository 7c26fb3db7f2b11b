import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('rate limits', () => {
  let replicas: TestGateway[];
  let tenant: Awaited<ReturnType<typeof createTenant>>;

  before(async () => {
    // Two gateway replicas sharing one Redis, as two pods would.
    replicas = [await startTestGateway(), await startTestGateway()];
    tenant = await createTenant(replicas[0]!);
  });
  after(() => Promise.all(replicas.map((r) => r.close())));

  it('answers 429 with Retry-After once a key spends its budget, counted across replicas', async () => {
    const created = await call(replicas[0]!, 'POST', '/v1/api-keys', {
      key: tenant.adminKey,
      body: { name: 'limited', scopes: ['read'], rate_limit_per_minute: 4 },
    });
    const key = created.body.secret as string;
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 6; i++) {
      last = await call(replicas[i % 2]!, 'GET', '/v1/groups', { key });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    assert.equal(last!.body.type, '/problems/rate-limited');
    const retryAfter = Number(last!.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 15, `Retry-After ${retryAfter}`);
    assert.equal(last!.headers.get('ratelimit-limit'), '4');
  });

  it("does not charge one key's requests to another", async () => {
    const other = await call(replicas[1]!, 'GET', '/v1/groups', { key: tenant.adminKey });
    assert.equal(other.status, 200);
  });
});
