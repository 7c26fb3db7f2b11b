import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { peftFiles } from './testing/tenant-fixtures.js';
import { call, createTenant, startTestGateway, type TestGateway } from './testing/test-gateway.js';

describe('adapters: PEFT upload checked against the base model, patch, archive, delete that erases', () => {
  let gateway: TestGateway;
  let dataDir: string;
  let tenant: Awaited<ReturnType<typeof createTenant>>;
  const req = (method: string, url: string, options: Parameters<typeof call>[3] = {}) =>
    call(gateway, method, url, { key: tenant.adminKey, ...options });
  const putWeights = (adapterId: string, version: number, bytes: Uint8Array) =>
    fetch(`${gateway.url}/v1/adapters/${adapterId}/versions/${version}/adapter_model.safetensors`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${tenant.adminKey}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const blobPath = (sha256: string) => path.join(dataDir, 'blobs', tenant.tenant.id, sha256.slice(0, 2), sha256);

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-adapters-'));
    gateway = await startTestGateway({ DATA_DIR: dataDir });
    tenant = await createTenant(gateway);
  });
  after(async () => {
    await gateway.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function uploaded(name: string, seed = 1) {
    const adapter = (await req('POST', '/v1/adapters', { body: { name, base_model: 'tessera-demo' } })).body;
    const files = peftFiles(576, seed);
    assert.equal(
      (await req('PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`, { body: files.config })).status,
      200,
    );
    const result = await putWeights(adapter.id, 1, files.weights);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    return { adapter, version: result.body as any, files };
  }

  it('takes an adapter in the PEFT format and gives the same bytes back', async () => {
    const { adapter, version, files } = await uploaded('uploaded');
    assert.equal(version.status, 'ready');
    assert.deepEqual(version.target_modules, ['attn.c_attn']);
    assert.equal(version.weights_sha256, createHash('sha256').update(files.weights).digest('hex'));
    const download = await fetch(`${gateway.url}/v1/adapters/${adapter.id}/versions/1/adapter_model.safetensors`, {
      headers: { authorization: `Bearer ${tenant.adminKey}` },
    });
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), Buffer.from(files.weights));
    const config = await req('GET', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`);
    assert.equal(config.body.r, 4);
    assert.equal(config.body.lora_alpha, 8);
    assert.equal(config.body.fan_in_fan_out, true);
  });

  it('reads an uploaded adapter_config as PEFT does: rsLoRA folded into α, unsupported fields refused by name', async () => {
    const adapter = (await req('POST', '/v1/adapters', { body: { name: 'rslora', base_model: 'tessera-demo' } })).body;
    const config = (body: object) => req('PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`, { body });
    const refused = await config({ peft_type: 'LORA', r: 4, lora_alpha: 8, alpha_pattern: { c_attn: 16 } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.detail, /alpha_pattern is not supported/);
    const rs = await config({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_rslora: true });
    assert.equal(rs.status, 200, JSON.stringify(rs.body));
    // PEFT's scale α/√r = 8/2 = 4, kept as the engine's α/r: α = 16.
    assert.equal(rs.body.alpha, 16);
    const plain = await config({ peft_type: 'LORA', r: 4 });
    assert.equal(plain.body.alpha, 8, "PEFT's default lora_alpha, not r");
  });

  it('refuses weights that do not fit the base model, naming the mismatch, and keeps nothing', async () => {
    const adapter = (await req('POST', '/v1/adapters', { body: { name: 'misfit', base_model: 'tessera-demo' } })).body;
    const wrong = peftFiles(500);
    await req('PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`, { body: wrong.config });
    const refused = await putWeights(adapter.id, 1, wrong.weights);
    assert.equal(refused.status, 400);
    assert.match(refused.body.errors[0].message, /h\.0\.attn\.c_attn: lora_B holds 2000 values, expected 576×4/);
    assert.equal(existsSync(blobPath(createHash('sha256').update(wrong.weights).digest('hex'))), false);
    const versions = (await req('GET', `/v1/adapters/${adapter.id}/versions`)).body.data;
    assert.deepEqual(
      versions.map((v: any) => [v.version, v.status]),
      [[1, 'queued']],
    );
    // Corrected, the same version takes it.
    assert.equal((await putWeights(adapter.id, 1, peftFiles(576, 3).weights)).status, 200);
    const notBinary = await req('PUT', `/v1/adapters/${adapter.id}/versions/2/adapter_model.safetensors`, {
      body: { not: 'bytes' },
    });
    assert.equal(notBinary.status, 404);
  });

  it('patches the access group (only to a group of the tenant) and archives', async () => {
    const { adapter } = await uploaded('grouped', 5);
    assert.equal(
      (
        await req('PATCH', `/v1/adapters/${adapter.id}`, {
          body: { access_group_id: 'grp_00000000000000000000000001' },
        })
      ).status,
      404,
    );
    const group = (await req('POST', '/v1/groups', { body: { name: 'support' } })).body;
    const patched = await req('PATCH', `/v1/adapters/${adapter.id}`, {
      body: { access_group_id: group.id, description: 'support replies' },
    });
    assert.equal(patched.body.access_group_id, group.id);
    assert.equal(patched.body.latest_ready_version, 1);
    assert.equal((await req('POST', `/v1/adapters/${adapter.id}/archive`)).body.status, 'archived');
  });

  it('delete erases the weights from the blob store, except bytes another adapter still uses', async () => {
    const first = await uploaded('twin-a', 9);
    const second = await uploaded('twin-b', 9); // identical bytes: one blob
    const sha = first.version.weights_sha256;
    assert.equal(second.version.weights_sha256, sha);
    assert.equal((await req('DELETE', `/v1/adapters/${first.adapter.id}`)).status, 204);
    assert.ok(existsSync(blobPath(sha)), 'twin-b still needs the bytes');
    assert.equal((await req('GET', `/v1/adapters/${first.adapter.id}/versions/1/adapter_config.json`)).status, 409);
    assert.deepEqual(
      (await req('GET', `/v1/adapters/${first.adapter.id}/versions`)).body.data.map((v: any) => [
        v.status,
        v.weights_sha256,
      ]),
      [['deleted', null]],
    );
    assert.equal((await req('DELETE', `/v1/adapters/${second.adapter.id}`)).status, 204);
    assert.equal(existsSync(blobPath(sha)), false, 'the last user gone, the bytes are erased');
    assert.equal((await req('GET', `/v1/adapters/${second.adapter.id}`)).body.status, 'deleted');
  });
});
