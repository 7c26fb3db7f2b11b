import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createTesseraClient, shownSecret, unwrap, type TesseraApi } from '@tessera/sdk';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** `node infra/scripts/demo.mjs` to its end: its exit code and everything it printed. */
function runDemo(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'infra/scripts/demo.mjs')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

describe('npm run demo: the whole story against a gateway and a worker', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let worker: WorkerProcess;
  let demoKey: string;

  /** What `npm start` seeds: the groups and the sample datasets, none of them trained. */
  async function seedLikeStart(demo: TesseraApi) {
    for (const name of ['kitchen', 'engineering', 'forecasting'])
      await unwrap(demo.POST('/v1/groups', { body: { name } }));
    for (const name of ['weather', 'recipes', 'code']) {
      const dataset = await unwrap(demo.POST('/v1/datasets', { body: { name, format: 'text' } }));
      const content = readFileSync(path.join(ROOT, 'infra/demo/datasets', `${name}.jsonl`), 'utf8');
      await unwrap(
        demo.PUT('/v1/datasets/{dataset_id}/content', {
          params: { path: { dataset_id: dataset.id } },
          body: content,
          headers: { 'content-type': 'application/x-ndjson' },
          bodySerializer: (body: string) => body,
        }),
      );
    }
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-demo-'));
    // The demo's webhook receiver listens on 127.0.0.1.
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-demo-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    worker = await startWorkerProcess({ ...env, WORKER_THREADS: '2', INFER_SLOTS: '8' });
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    demoKey = shownSecret((await unwrap(platform.POST('/v1/tenants', { body: { name: 'Demo' } }))).api_key);
    await seedLikeStart(createTesseraClient({ baseUrl: gateway.url, apiKey: demoKey }));
  });

  after(async () => {
    await worker?.stop();
    assert.equal(await gateway?.stop(), 0);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('uploads, trains two adapters with webhooks, infers in every routing mode and deletes a document with a proof', async () => {
    const { code, output } = await runDemo({ TESSERA_URL: gateway.url, TESSERA_API_KEY: demoKey });
    console.log(output);
    assert.equal(code, 0, `${output}\n--- worker ---\n${worker.output()}`);
    const number = String.raw`\d+\.\d{3}`;
    // The endpoint it registered is gone: its receiver closed with the script.
    const demo = createTesseraClient({ baseUrl: gateway.url, apiKey: demoKey });
    assert.deepEqual((await unwrap(demo.GET('/v1/webhooks'))).data, []);
    for (const marker of [
      /demo-recipes-\w+: 44 lines, 41 documents/,
      /webhook fine_tune\.succeeded received, signature valid/,
      /adapter {3}"mix 2 cups of" → ".+"\n {12}routing adapter\/fixed: recipes-\w+@1 1\.00/,
      /mixture {3}.+\n {12}routing mixture\/fixed: recipes-\w+@1 0\.70, code-\w+@1 0\.30/,
      /token {5}.+\n {12}routing token\/arrow: recipes-\w+@1 \d\.\d\d, code-\w+@1 \d\.\d\d\n {12}tokens {2}.+\n {12}gate {4}[rc]+ /,
      /auto {6}"let total.+\n {12}routing auto\/centroid: code-\w+@1 1\.00 \(cosine -?\d\.\d\d\)/,
      /auto {6}"mix 3 cups.+\n {12}routing auto\/arrow: /,
      new RegExp(`proof {4}loss of the deleted text: before ${number}, after ${number} nats/token`),
      new RegExp(`never-trained documents: ${number} ± ${number} \\(min ${number}, n 32\\)`),
      /verdict: looks_unseen: the deleted text scored like trained text before/,
    ]) {
      assert.match(output, marker);
    }
  });
});
