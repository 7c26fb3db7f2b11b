import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

const jsonl = (...records: unknown[]) =>
  records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

describe('datasets', () => {
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let groupId: string;

  const upload = (datasetId: string, content: string, type = 'application/x-ndjson') =>
    call(gateway, 'PUT', `/v1/datasets/${datasetId}/content`, {
      key: tenant.adminKey,
      rawBody: content,
      headers: { 'content-type': type },
    });
  const newDataset = async (format = 'text') =>
    (await call(gateway, 'POST', '/v1/datasets', { key: tenant.adminKey, body: { name: `d ${format}`, format } })).body;
  const tenantBlobs = async () =>
    (
      await readdir(path.join(dataDir, 'blobs', tenant.tenant.id), { recursive: true, withFileTypes: true }).catch(
        () => [],
      )
    )
      .filter((e) => e.isFile() && !e.parentPath.includes('.tmp'))
      .map((e) => e.name);

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-datasets-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir, DATASET_MAX_BYTES: '4000', DATASET_MAX_ERRORS: '3' });
    tenant = await createTenant(gateway);
    groupId = (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'legal' } })).body.id;
  });
  after(async () => {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('stores an upload content-addressed, with documents, groups and stats', async () => {
    const dataset = await newDataset();
    assert.equal(dataset.status, 'uploading');
    const content = jsonl(
      { text: 'contract one, part a', document_id: 'c1', access_group: 'legal' },
      { text: 'contract one, part b', document_id: 'c1', access_group: groupId },
      { text: 'a note for everyone' },
      '',
      { text: 'héllo', document_id: 'c2' },
    );
    const result = await upload(dataset.id, content);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.status, 'ready');
    assert.equal(result.body.record_count, 4);
    assert.equal(result.body.document_count, 3);
    assert.equal(result.body.bytes, Buffer.byteLength(content));
    assert.equal(
      result.body.token_count,
      Buffer.byteLength('contract one, part acontract one, part ba note for everyonehéllo'),
    );
    assert.deepEqual(result.body.access_group_ids, [groupId]);
    // The blob is the upload's bytes under their sha256.
    assert.deepEqual(await tenantBlobs(), [createHash('sha256').update(content).digest('hex')]);

    const documents = (await call(gateway, 'GET', `/v1/datasets/${dataset.id}/documents`, { key: tenant.adminKey }))
      .body.data;
    assert.deepEqual(documents.map((d: any) => [d.document_id, d.access_group_id, d.record_count]).sort(), [
      ['c1', groupId, 2],
      ['c2', null, 1],
      ['line-3', null, 1],
    ]);
    const again = await call(gateway, 'GET', `/v1/datasets/${dataset.id}`, { key: tenant.adminKey });
    assert.deepEqual(again.body, result.body);
    // Content is set once.
    const second = await upload(dataset.id, jsonl({ text: 'more' }));
    assert.equal(second.status, 409);
  });

  it('refuses bad lines with a 400 naming them, and stores nothing', async () => {
    const dataset = await newDataset('prompt_completion');
    const before = await tenantBlobs();
    const content = jsonl(
      { prompt: 'Q', completion: 'A' },
      'not json',
      { text: 'wrong format' },
      { prompt: 'Q', completion: 'A', access_group: 'no-such-group' },
      { prompt: 'Q', completion: '' },
    );
    const result = await upload(dataset.id, content);
    assert.equal(result.status, 400);
    assert.equal(result.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.equal(result.body.type, '/problems/validation');
    assert.match(result.body.detail, /^4 line\(s\)/);
    assert.deepEqual(
      result.body.errors.map((e: any) => e.field),
      ['line 2', 'line 3', 'line 4'],
      'at most DATASET_MAX_ERRORS are listed',
    );
    assert.match(result.body.errors[2].message, /access_group "no-such-group" is not a group of this tenant/);
    assert.deepEqual(await tenantBlobs(), before);
    const unchanged = await call(gateway, 'GET', `/v1/datasets/${dataset.id}`, { key: tenant.adminKey });
    assert.equal(unchanged.body.status, 'uploading');
    assert.equal(unchanged.body.document_count, 0);
    // Fixed, the same dataset takes the upload.
    assert.equal((await upload(dataset.id, jsonl({ prompt: 'Q', completion: 'A' }))).status, 200);
  });

  it('answers 413 past the size limit and 415 for another content type, storing nothing', async () => {
    const dataset = await newDataset();
    const before = await tenantBlobs();
    const big = jsonl(
      ...Array.from({ length: 200 }, (_, i) => ({ text: `record number ${i} with some padding text` })),
    );
    const tooLarge = await upload(dataset.id, big);
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.type, '/problems/payload-too-large');
    const wrongType = await upload(dataset.id, '{"text":"x"}', 'text/plain');
    assert.equal(wrongType.status, 415);
    assert.deepEqual(await tenantBlobs(), before);
    assert.equal(
      (await call(gateway, 'GET', `/v1/datasets/${dataset.id}`, { key: tenant.adminKey })).body.status,
      'uploading',
    );
  });

  it('refuses a document whose records disagree on their access group', async () => {
    const dataset = await newDataset();
    const result = await upload(
      dataset.id,
      jsonl({ text: 'a', document_id: 'x', access_group: 'legal' }, { text: 'b', document_id: 'x' }),
    );
    assert.equal(result.status, 400);
    assert.match(
      result.body.errors[0].message,
      /document "x" has records in different access groups \(first on line 1\)/,
    );
  });
});
