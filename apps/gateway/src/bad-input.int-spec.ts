import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

/** The upload limits the gateway runs with here (the defaults, spelled out). */
const MAX_LINE_BYTES = 1_048_576;
const MAX_DOCUMENT_BYTES = 4 * 1_048_576;
const MAX_DOCUMENTS = 100_000;
const MiB = 1_048_576;

const jsonl = (records: unknown[]) => Buffer.from(records.map((r) => JSON.stringify(r)).join('\n') + '\n');

describe('bad input', () => {
  let gateway: TestGateway;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  let groupId: string;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-bad-input-'));
    gateway = await startTestGateway({
      BODY_LIMIT_BYTES: '4096',
      DATA_DIR: dataDir,
      DATASET_MAX_LINE_BYTES: String(MAX_LINE_BYTES),
      DATASET_MAX_DOCUMENT_BYTES: String(MAX_DOCUMENT_BYTES),
      DATASET_MAX_DOCUMENTS: String(MAX_DOCUMENTS),
    });
    tenant = await createTenant(gateway);
    groupId = (await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'kept' } })).body.id;
  });
  after(async () => {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const snapshot = async () => {
    const groups = await call(gateway, 'GET', '/v1/groups?limit=100', { key: tenant.adminKey });
    const principals = await call(gateway, 'GET', '/v1/principals?limit=100', { key: tenant.adminKey });
    const keys = await call(gateway, 'GET', '/v1/api-keys?limit=100', { key: tenant.adminKey });
    return JSON.stringify([groups.body, principals.body, keys.body]);
  };

  const json = { 'content-type': 'application/json' };
  const cases: {
    name: string;
    method: string;
    path: () => string;
    rawBody?: string;
    body?: unknown;
    headers?: Record<string, string>;
    status: number;
    type: string;
    field?: string;
  }[] = [
    {
      name: 'malformed JSON',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name": "x",',
      headers: json,
      status: 400,
      type: 'malformed-json',
    },
    {
      name: 'empty JSON body',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '',
      headers: json,
      status: 400,
      type: 'malformed-json',
    },
    {
      name: 'no body at all',
      method: 'POST',
      path: () => '/v1/groups',
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an array for an object',
      method: 'POST',
      path: () => '/v1/groups',
      body: [{ name: 'x' }],
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'a wrong type',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 42 },
      status: 400,
      type: 'validation',
      field: 'body.name',
    },
    {
      name: 'an unknown field',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 'ok', colour: 'red' },
      status: 400,
      type: 'validation',
      field: 'body.colour',
    },
    {
      name: 'a NUL character',
      method: 'POST',
      path: () => '/v1/principals',
      body: { kind: 'user', name: 'a\u0000b' },
      status: 400,
      type: 'validation',
      field: 'body.name',
    },
    {
      name: 'a bad enum value',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['root'] },
      status: 400,
      type: 'validation',
      field: 'body.scopes.0',
    },
    {
      name: 'a repeated scope',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['read', 'read'] },
      status: 400,
      type: 'validation',
      field: 'body.scopes',
    },
    {
      name: 'an expiry in the past',
      method: 'POST',
      path: () => '/v1/api-keys',
      body: { name: 'k', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' },
      status: 400,
      type: 'validation',
      field: 'body.expires_at',
    },
    {
      name: 'two members at once',
      method: 'POST',
      path: () => `/v1/groups/${groupId}/members`,
      body: () => ({ principal_id: tenant.principal.id, api_key_id: tenant.api_key.id }),
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an oversized body',
      method: 'POST',
      path: () => '/v1/groups',
      body: { name: 'x', description: 'y'.repeat(8000) },
      status: 413,
      type: 'payload-too-large',
    },
    {
      name: 'a form body',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: 'name=x',
      headers: { 'content-type': 'text/csv' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'a form-urlencoded body',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: 'name=formed',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'a text/plain body holding JSON',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name":"plain"}',
      headers: { 'content-type': 'text/plain' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'an ndjson body on a JSON route',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name":"lines"}\n',
      headers: { 'content-type': 'application/x-ndjson' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'an octet-stream body on a JSON route',
      method: 'PATCH',
      path: () => `/v1/groups/${groupId}`,
      rawBody: '{"description":"bytes"}',
      headers: { 'content-type': 'application/octet-stream' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'a JSON body with a __proto__ key',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name":"p","__proto__":{"admin":true}}',
      headers: json,
      status: 400,
      type: 'forbidden-json-key',
    },
    {
      name: 'a malformed id',
      method: 'GET',
      path: () => '/v1/groups/not-an-id',
      status: 400,
      type: 'validation',
      field: 'path.group_id',
    },
    {
      name: 'an id of another kind',
      method: 'DELETE',
      path: () => `/v1/groups/${tenant.principal.id}`,
      status: 400,
      type: 'validation',
      field: 'path.group_id',
    },
    {
      name: 'a well-formed id that does not exist',
      method: 'PATCH',
      path: () => '/v1/groups/grp_00000000000000000000000000',
      body: { description: 'x' },
      status: 404,
      type: 'not-found',
    },
    {
      name: 'limit of zero',
      method: 'GET',
      path: () => '/v1/groups?limit=0',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'limit not a number',
      method: 'GET',
      path: () => '/v1/groups?limit=lots',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'limit too large',
      method: 'GET',
      path: () => '/v1/groups?limit=100000',
      status: 400,
      type: 'validation',
      field: 'query.limit',
    },
    {
      name: 'a bad cursor',
      method: 'GET',
      path: () => '/v1/groups?after=zzz',
      status: 400,
      type: 'validation',
      field: 'query.after',
    },
    {
      name: 'an unknown query parameter',
      method: 'GET',
      path: () => '/v1/groups?page=2',
      status: 400,
      type: 'validation',
      field: 'query.page',
    },
    { name: 'an unknown route', method: 'GET', path: () => '/v1/nothing-here', status: 404, type: 'not-found' },
    {
      // Idempotency fingerprints the body: its depth is measured before anything recurses into it.
      name: 'an Idempotency-Key with a body nested 300 levels deep',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: `${'{"a":'.repeat(300)}1${'}'.repeat(300)}`,
      headers: { ...json, 'idempotency-key': 'deep-1' },
      status: 400,
      type: 'validation',
      field: 'body',
    },
    {
      name: 'an Idempotency-Key with an ndjson body on a JSON route',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: '{"name":"a"}\n{"name":"b"}\n',
      headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': 'ndjson-1' },
      status: 415,
      type: 'unsupported-media-type',
    },
    {
      name: 'an Idempotency-Key with an octet-stream body on a JSON route',
      method: 'POST',
      path: () => '/v1/groups',
      rawBody: 'raw bytes',
      headers: { 'content-type': 'application/octet-stream', 'idempotency-key': 'bytes-1' },
      status: 415,
      type: 'unsupported-media-type',
    },
  ];

  for (const testCase of cases) {
    it(`answers ${testCase.status} problem+json to ${testCase.name}, storing nothing`, async () => {
      const before = await snapshot();
      const result = await call(gateway, testCase.method, testCase.path(), {
        key: tenant.adminKey,
        ...(testCase.rawBody !== undefined ? { rawBody: testCase.rawBody } : {}),
        ...(testCase.body !== undefined
          ? { body: typeof testCase.body === 'function' ? testCase.body() : testCase.body }
          : {}),
        ...(testCase.headers ? { headers: testCase.headers } : {}),
      });
      assert.equal(result.status, testCase.status, JSON.stringify(result.body));
      assert.match(result.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(result.body.type, `/problems/${testCase.type}`);
      assert.equal(result.body.status, testCase.status);
      assert.ok(result.body.request_id, 'problem without request_id');
      if (testCase.field) {
        const fields = (result.body.errors ?? []).map((e: { field: string }) => e.field);
        assert.ok(fields.includes(testCase.field), `expected ${testCase.field} among ${JSON.stringify(fields)}`);
      }
      assert.equal(await snapshot(), before);
    });
  }

  describe('dataset uploads', () => {
    const datasets = () => call(gateway, 'GET', '/v1/datasets?limit=100', { key: tenant.adminKey });
    /** Every file the blob store holds for the tenant, its temporary files included. */
    const blobFiles = async () =>
      (await readdir(path.join(dataDir, 'blobs'), { recursive: true, withFileTypes: true }).catch(() => []))
        .filter((e) => e.isFile())
        .map((e) => path.join(e.parentPath, e.name))
        .sort();
    const newDataset = async (format = 'text') =>
      (await call(gateway, 'POST', '/v1/datasets', { key: tenant.adminKey, body: { name: `d ${format}`, format } }))
        .body.id as string;
    const upload = (datasetId: string, content: Uint8Array) =>
      call(gateway, 'PUT', `/v1/datasets/${datasetId}/content`, {
        key: tenant.adminKey,
        rawBody: content,
        headers: { 'content-type': 'application/x-ndjson' },
      });

    /**
     * Streams chunks as an upload over plain HTTP and stops writing once the gateway answers,
     * so a refusal part-way is seen as the client sees it (with how much had been sent).
     */
    const streamUpload = (datasetId: string, chunks: Iterable<Uint8Array>) =>
      new Promise<{ status: number; body: any; sent: number }>((resolve, reject) => {
        let sent = 0;
        let answered = false;
        const req = httpRequest(
          `${gateway.url}/v1/datasets/${datasetId}/content`,
          {
            method: 'PUT',
            headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/x-ndjson' },
          },
          (res) => {
            answered = true;
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => {
              req.destroy();
              resolve({ status: res.statusCode!, body: JSON.parse(text), sent });
            });
          },
        );
        req.on('error', (error) => !answered && reject(error));
        const source = chunks[Symbol.iterator]();
        const write = (): void => {
          while (!answered) {
            const next = source.next();
            if (next.done) return void req.end();
            sent += next.value.byteLength;
            if (!req.write(next.value)) return void req.once('drain', write);
          }
        };
        write();
      });

    /** A refused upload: problem+json of the kind, naming `field`, and nothing stored (no dataset change, no blob). */
    const assertRefused = async <R extends { status: number; body: any }>(
      attempt: () => Promise<R>,
      expected: { status: number; type: string; field: string; detail: RegExp; message?: RegExp },
    ) => {
      const [listBefore, blobsBefore] = [await datasets(), await blobFiles()];
      const result = await attempt();
      assert.equal(result.status, expected.status, JSON.stringify(result.body).slice(0, 500));
      assert.equal(result.body.type, `/problems/${expected.type}`);
      assert.match(result.body.detail, expected.detail);
      const named = result.body.errors.find((e: { field: string }) => e.field === expected.field);
      assert.ok(named, `expected ${expected.field} among ${JSON.stringify(result.body.errors)}`);
      if (expected.message) assert.match(named.message, expected.message);
      assert.deepEqual((await datasets()).body, listBefore.body, 'dataset list and stats unchanged');
      assert.deepEqual(await blobFiles(), blobsBefore, 'no blob (nor temporary file) left behind');
      return result;
    };

    it('takes 100,000 one-line documents (6 MB) within 10 s and 500 MB of memory', async () => {
      // The gateway runs in this process: its memory is this process's RSS. maxRSS is the
      // process's peak so far, so a spike between two samples cannot go unseen.
      const id = await newDataset();
      const records = Array.from({ length: MAX_DOCUMENTS }, (_, i) => ({
        text: `record number ${i}`,
        document_id: `d${i}`,
      }));
      const content = jsonl(records);
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      const result = await upload(id, content);
      const seconds = (performance.now() - started) / 1000;
      const peakGrowthMiB = (process.resourceUsage().maxRSS * 1024 - rssBefore) / MiB;
      assert.equal(result.status, 200, JSON.stringify(result.body).slice(0, 500));
      assert.equal(result.body.document_count, MAX_DOCUMENTS);
      assert.equal(result.body.record_count, MAX_DOCUMENTS);
      assert.equal(result.body.bytes, content.byteLength);
      console.log(`100,000-document upload: ${seconds.toFixed(2)} s, peak RSS growth ${peakGrowthMiB.toFixed(0)} MiB`);
      assert.ok(seconds <= 10, `took ${seconds.toFixed(1)} s`);
      assert.ok(peakGrowthMiB <= 500, `RSS grew by ${peakGrowthMiB.toFixed(0)} MiB`);
    });

    it('answers 413 naming the limit to one document more than an upload may hold', async () => {
      const id = await newDataset();
      const records = Array.from({ length: MAX_DOCUMENTS + 1 }, (_, i) => ({ text: `r${i}` }));
      await assertRefused(() => upload(id, jsonl(records)), {
        status: 413,
        type: 'payload-too-large',
        field: `line ${MAX_DOCUMENTS + 1}`,
        detail: new RegExp(`more than the limit of ${MAX_DOCUMENTS} documents`),
      });
    });

    it('refuses a 101 MB line without a newline as soon as it passes the line limit, reading no further', async () => {
      const id = await newDataset();
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      const chunk = Buffer.alloc(MiB, 'a');
      const chunks = function* () {
        yield Buffer.from('{"text":"');
        for (let i = 0; i < 101; i++) yield chunk;
      };
      const result = await assertRefused(() => streamUpload(id, chunks()), {
        status: 413,
        type: 'payload-too-large',
        field: 'line 1',
        detail: new RegExp(`Line 1 is longer than the limit of ${MAX_LINE_BYTES} bytes`),
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(`101 MB line: refused after ${(result.sent / MiB).toFixed(1)} MiB sent, ${seconds.toFixed(2)} s`);
      assert.ok(result.sent < 40 * MiB, `sent ${result.sent} bytes`);
      assert.ok(seconds < 10, `took ${seconds.toFixed(1)} s`);
      assert.ok(process.memoryUsage().rss - rssBefore < 200 * MiB, 'memory stays bounded');
    });

    it('takes a line of exactly the line limit and refuses one a byte longer, naming its line', async () => {
      const recordOf = (bytes: number) => {
        const line = { text: '' };
        line.text = 'x'.repeat(bytes - JSON.stringify(line).length);
        return line;
      };
      const atLimit = await upload(await newDataset(), jsonl([recordOf(MAX_LINE_BYTES)]));
      assert.equal(atLimit.status, 200, JSON.stringify(atLimit.body).slice(0, 300));
      const id = await newDataset();
      await assertRefused(() => upload(id, jsonl([{ text: 'fine' }, recordOf(MAX_LINE_BYTES + 1)])), {
        status: 413,
        type: 'payload-too-large',
        field: 'line 2',
        detail: /Line 2 is longer than the limit/,
      });
    });

    it('answers 413 naming the document whose records pass the per-document limit', async () => {
      const id = await newDataset();
      const record = { text: 'y'.repeat(900_000), document_id: 'huge' };
      await assertRefused(() => upload(id, jsonl([{ text: 'small' }, ...Array(5).fill(record)])), {
        status: 413,
        type: 'payload-too-large',
        field: 'line 6',
        detail: new RegExp(`Document "huge" passes the limit of ${MAX_DOCUMENT_BYTES} bytes`),
      });
    });

    it('refuses records nested past the depth limit, without overflowing the stack', async () => {
      const id = await newDataset();
      const deep = `{"text":"x","document_id":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
      await assertRefused(() => upload(id, Buffer.from(`{"text":"ok"}\n${deep}\n`)), {
        status: 400,
        type: 'validation',
        field: 'line 2',
        detail: /1 line\(s\) of the upload are not valid text records/,
        message: /nested deeper than 8 levels/,
      });
    });

    it('refuses __proto__, constructor and prototype keys in records, naming the line and key', async () => {
      const id = await newDataset('chat');
      const lines = [
        '{"messages":[{"role":"assistant","content":"fine"}]}',
        '{"messages":[{"role":"assistant","content":"x"}],"__proto__":{"polluted":true}}',
        '{"messages":[{"role":"assistant","content":"x","constructor":{"prototype":{"polluted":true}}}]}',
        '{"messages":[{"role":"assistant","content":"x"}],"document_id":"d","prototype":1}',
      ];
      const result = await assertRefused(() => upload(id, Buffer.from(lines.join('\n'))), {
        status: 400,
        type: 'validation',
        field: 'line 2',
        detail: /3 line\(s\)/,
        message: /"__proto__" \(at __proto__\) is not allowed/,
      });
      assert.deepEqual(
        result.body.errors.map((e: { field: string; message: string }) => [e.field, e.message.split(' is ')[0]]),
        [
          ['line 2', 'the key "__proto__" (at __proto__)'],
          ['line 3', 'the key "constructor" (at messages.0.constructor)'],
          ['line 4', 'the key "prototype" (at prototype)'],
        ],
      );
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });

    it('two uploads racing for one dataset: one lands, the other is a 409 and leaves no blob behind', async () => {
      // Large enough that both are usually past the first status check when the winner commits,
      // so the loser's blob is already stored and must be released.
      const id = await newDataset();
      const content = (tag: string) =>
        jsonl(Array.from({ length: 20_000 }, (_, i) => ({ text: `${tag} ${i}`, document_id: `${tag}${i}` })));
      const blobsBefore = await blobFiles();
      const results = await Promise.all([upload(id, content('a')), upload(id, content('b'))]);
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409], JSON.stringify(results.map((r) => r.body)));
      const after = await blobFiles();
      assert.equal(after.length, blobsBefore.length + 1, 'only the winner keeps a blob');
      assert.ok(!after.some((f) => f.includes(`${path.sep}.tmp${path.sep}`)), 'no temporary file left');
    });

    it('takes a single 200 KB record (training and deletion handle it: see training-data.spec)', async () => {
      const text = 'z'.repeat(200_000);
      const result = await upload(await newDataset(), jsonl([{ text, document_id: 'long' }]));
      assert.equal(result.status, 200, JSON.stringify(result.body).slice(0, 300));
      assert.equal(result.body.token_count, 200_000);
      assert.equal(result.body.document_count, 1);
    });
  });

  it('answers 409 to a duplicate group name and keeps the first', async () => {
    const duplicate = await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: 'kept' } });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.type, '/problems/conflict');
    assert.equal((await call(gateway, 'GET', `/v1/groups/${groupId}`, { key: tenant.adminKey })).status, 200);
  });
});
