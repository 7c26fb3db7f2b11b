import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('cursor pagination', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  const created: string[] = [];

  before(async () => {
    gateway = await startTestGateway();
    tenant = await createTenant(gateway);
    for (let i = 0; i < 7; i++) {
      created.push(
        (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: `g${i}` } })).body.id,
      );
    }
  });
  after(() => gateway.close());

  it('walks every item once, in creation order, with has_more false at the end', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await call(gateway, 'GET', `/v1/groups?limit=3${after ? `&after=${after}` : ''}`, {
        key: tenant.adminKey,
      });
      assert.equal(page.status, 200);
      assert.ok(page.body.data.length <= 3);
      seen.push(...page.body.data.map((g: { id: string }) => g.id));
      pages++;
      if (!page.body.has_more) break;
      after = seen.at(-1);
    }
    assert.deepEqual(seen, created);
    assert.equal(pages, 3);
  });

  it('defaults to 20 items a page', async () => {
    const page = await call(gateway, 'GET', '/v1/groups', { key: tenant.adminKey });
    assert.equal(page.body.data.length, 7);
    assert.equal(page.body.has_more, false);
  });
});
