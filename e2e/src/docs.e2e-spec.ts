import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { createTesseraClient, shownSecret, unwrap } from '@tessera/sdk';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const run = promisify(execFile);

/** The fenced block that follows `marker` in a markdown text (its first line after the fence). */
function blockAfter(markdown: string, marker: string): string {
  const start = markdown.indexOf(marker);
  assert.ok(start >= 0, `no ${marker}`);
  const fence = /```[a-z]*\n([\s\S]*?)\n```/.exec(markdown.slice(start));
  assert.ok(fence, `no code block after ${marker}`);
  return fence[1]!;
}

async function ignoredByGit(file: string): Promise<boolean> {
  return run('git', ['check-ignore', '-q', file], { cwd: ROOT }).then(
    () => true,
    () => false,
  );
}

async function documents(): Promise<{ file: string; text: string }[]> {
  const files = ['README.md', ...(await readdir(path.join(ROOT, 'docs'))).map((f) => `docs/${f}`)];
  return Promise.all(
    files
      .filter((f) => f.endsWith('.md'))
      .map(async (file) => ({ file, text: await readFile(path.join(ROOT, file), 'utf8') })),
  );
}

describe('the README and docs, followed as a new user would', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let worker: WorkerProcess;
  let receiver: WebhookReceiver;
  let key: string;
  let webhookSecret: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-docs-'));
    receiver = await startWebhookReceiver();
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: process.env.TEST_DATABASE_URL!,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-docs-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    worker = await startWorkerProcess({ ...env, WORKER_THREADS: '2' });
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    key = shownSecret((await unwrap(platform.POST('/v1/tenants', { body: { name: 'Readers' } }))).api_key);
    const tenant = createTesseraClient({ baseUrl: gateway.url, apiKey: key });
    const endpoint = await unwrap(
      tenant.POST('/v1/webhooks', { body: { url: receiver.url, event_types: ['fine_tune.succeeded'] } }),
    );
    webhookSecret = shownSecret(endpoint);
  });

  after(async () => {
    await worker?.stop();
    await gateway?.stop();
    await receiver?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every relative link and every repository path the docs name exists', async () => {
    const missing: string[] = [];
    for (const { file, text } of await documents()) {
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        if (!existsSync(path.join(ROOT, path.dirname(file), target!))) missing.push(`${file}: link ${target}`);
      }
      // Paths in backticks under the repository's top-level folders (placeholders like <id> or … aside);
      // outputs git ignores (screenshots, bundles) are made by the commands the docs describe.
      for (const [, named] of text.matchAll(/`((?:apps|libs|docs|e2e|infra|bench|prisma|models)\/[^`\s<>…*{}]+)`/g)) {
        const bare = named!.replace(/[:,.]$/, '');
        if (!existsSync(path.join(ROOT, bare)) && !(await ignoredByGit(bare))) missing.push(`${file}: ${bare}`);
      }
    }
    assert.deepEqual(missing, []);
  });

  it("the README's quick start runs as written, and its webhook verifies with the docs' Node and Python code", async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const quickStart = blockAfter(readme, '## Quick start');
    const host = new URL(gateway.url).host;
    assert.match(quickStart, /^KEY=tsk_… /m, 'the block starts from the printed key');
    const script = [
      'set -euo pipefail',
      // An HTTP error fails the step (and so the script) instead of printing a problem to read.
      'curl() { command curl --fail-with-body "$@"; }',
      quickStart.replace(/^KEY=tsk_….*$/m, `KEY='${key}'`).replaceAll('localhost:8080', host),
    ].join('\n');
    const { stdout } = await run('bash', ['-c', script], { timeout: 180_000, maxBuffer: 16 << 20 }).catch(
      (error: { stdout?: string; stderr?: string; message: string }) => {
        assert.fail(`the quick start failed: ${error.message}\n${error.stdout}\n${error.stderr}\n${worker.output()}`);
      },
    );
    assert.match(stdout, /"status": "succeeded"/, stdout);
    assert.match(stdout, /"routing": \{\s*"mode": "adapter"/, stdout);
    // The last step's output: the schema's object, parsed by jq's fromjson.
    const last = JSON.parse(stdout.slice(stdout.lastIndexOf('{'))) as Record<string, unknown>;
    assert.deepEqual(Object.keys(last), ['city', 'clear']);
    assert.equal(typeof last.clear, 'boolean');

    // The fine-tune's signed delivery, verified by the docs' code as a receiver would run it.
    await receiver.event('fine_tune.succeeded');
    const delivery = receiver.received.find((r) => r.body.includes('fine_tune.succeeded'))!;
    const headers = Object.fromEntries(
      ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(delivery.headers[h])]),
    );
    const guide = await readFile(path.join(ROOT, 'docs/api-guide.md'), 'utf8');
    const cases = [
      { name: 'as delivered', headers, body: delivery.body, valid: true },
      { name: 'a changed body', headers, body: delivery.body.replace('succeeded', 'failed'), valid: false },
      {
        name: 'another secret',
        headers: { ...headers, 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') },
        body: delivery.body,
        valid: false,
      },
      {
        name: 'a replay an hour old',
        headers: { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 3600) },
        body: delivery.body,
        valid: false,
      },
    ];

    const nodeFile = path.join(dataDir, 'verify-webhook.mjs');
    await writeFile(nodeFile, blockAfter(guide, '<!-- verify-webhook:node -->'));
    const { verifyWebhook } = (await import(pathToFileURL(nodeFile).href)) as {
      verifyWebhook: (secret: string, headers: Record<string, string>, body: string) => boolean;
    };
    for (const c of cases) assert.equal(verifyWebhook(webhookSecret, c.headers, c.body), c.valid, `node: ${c.name}`);

    const pythonFile = path.join(dataDir, 'verify_webhook.py');
    await writeFile(
      pythonFile,
      [
        blockAfter(guide, '<!-- verify-webhook:python -->'),
        'import json, sys',
        'secret, cases = json.load(sys.stdin)',
        'print(json.dumps([verify_webhook(secret, c["headers"], c["body"].encode()) for c in cases]))',
      ].join('\n'),
    );
    const python = execFile('python3', [pythonFile]);
    python.stdin!.end(JSON.stringify([webhookSecret, cases]));
    let answer = '';
    python.stdout!.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    const code = await new Promise((resolve) => python.once('exit', resolve));
    assert.equal(code, 0, 'python3 ran the docs’ verifier');
    assert.deepEqual(
      JSON.parse(answer),
      cases.map((c) => c.valid),
      'python: as delivered, changed body, another secret, replay',
    );
  });
});
