import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

/** A GET as it comes off the wire: status, headers and the bytes undecoded. */
function rawGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    request(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    })
      .on('error', reject)
      .end();
  });
}

describe('compression: JSON and the dashboard as the client accepts', () => {
  let gateway: TestGateway;
  let dir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  const script = `console.log(${JSON.stringify('tessera '.repeat(400))});`;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-compression-'));
    await mkdir(path.join(dir, 'assets'), { recursive: true });
    await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>Tessera</title>');
    // As the dashboard's build leaves them: each file beside its brotli and gzip forms.
    await writeFile(path.join(dir, 'assets', 'app-1.js'), script);
    await writeFile(path.join(dir, 'assets', 'app-1.js.br'), zlib.brotliCompressSync(script));
    await writeFile(path.join(dir, 'assets', 'app-1.js.gz'), zlib.gzipSync(script));
    gateway = await startTestGateway({ DASHBOARD_DIR: dir });
    tenant = await createTenant(gateway);
    for (let i = 0; i < 30; i++)
      await call(gateway, 'POST', '/v1/groups', { key: tenant.adminKey, body: { name: `group-${i}` } });
  });
  after(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('compresses JSON of 1 KiB and more in brotli or gzip, the same JSON once decoded; small bodies go plain', async () => {
    const url = `${gateway.url}/v1/groups?limit=30`;
    const auth = { authorization: `Bearer ${tenant.adminKey}` };
    const plain = await rawGet(url, auth);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.length > 1024, `${plain.body.length} bytes: enough to compress`);
    const br = await rawGet(url, { ...auth, 'accept-encoding': 'br, gzip' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.deepEqual(JSON.parse(zlib.brotliDecompressSync(br.body).toString()), JSON.parse(plain.body.toString()));
    assert.ok(br.body.length < plain.body.length / 3, `${br.body.length} of ${plain.body.length} bytes`);
    const gzip = await rawGet(url, { ...auth, 'accept-encoding': 'gzip' });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.deepEqual(JSON.parse(zlib.gunzipSync(gzip.body).toString()), JSON.parse(plain.body.toString()));
    const small = await rawGet(`${gateway.url}/v1/me`, { ...auth, 'accept-encoding': 'br' });
    assert.equal(small.headers['content-encoding'], undefined);
  });

  it("serves the dashboard's files in the form its build compressed them", async () => {
    const br = await rawGet(`${gateway.url}/assets/app-1.js`, { 'accept-encoding': 'br' });
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(zlib.brotliDecompressSync(br.body).toString(), script);
    assert.match(String(br.headers['cache-control']), /immutable/);
    const gzip = await rawGet(`${gateway.url}/assets/app-1.js`, { 'accept-encoding': 'gzip' });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.equal(zlib.gunzipSync(gzip.body).toString(), script);
    const plain = await rawGet(`${gateway.url}/assets/app-1.js`, {});
    assert.equal(plain.body.toString(), script);
  });
});
