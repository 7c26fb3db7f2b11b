import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { domainTexts } from '@tessera/engine';
import { createTesseraClient, shownSecret, unwrap, type TesseraApi } from '@tessera/sdk';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from './browser.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';
const DASHBOARD_DIR = fileURLToPath(new URL('../../apps/dashboard/dist', import.meta.url));
const RECIPES_FILE = fileURLToPath(new URL('../../infra/demo/datasets/recipes.jsonl', import.meta.url));
/** Fine-tunes long enough to memorise the canary, short enough for 2 CPU cores. */
const QUICK = { max_steps: '40', batch_size: '4', max_sequence_length: '96', learning_rate: '0.01' };
const TRAINING_TIMEOUT_MS = 240_000;

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

describe('the dashboard in headless Chromium: the first-run journey', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let worker: WorkerProcess;
  let browser: Browser;
  let receiver: WebhookReceiver;
  let page: Page;
  let admin: TesseraApi;
  let adminKey: string;
  /** A second adapter, trained through the SDK, so token routing has two candidates. */
  let codeAdapterTrained: Promise<void>;
  const consoleErrors: string[] = [];
  /** axe-core's WCAG 2.1 AA violations, per page and state audited. */
  const violations: string[] = [];
  const failedRequests: string[] = [];
  /** The sample recipes plus one document the adapter can only know by heart: deleting it must show. */
  let uploadFile: string;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-dashboard-'));
    receiver = await startWebhookReceiver();
    // The test ping goes to a receiver on loopback: the worker delivers it, the gateway checks the URL.
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-dashboard-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY, DASHBOARD_DIR });
    worker = await startWorkerProcess({ ...env, WORKER_THREADS: '2', INFER_SLOTS: '8' });
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    adminKey = shownSecret((await unwrap(platform.POST('/v1/tenants', { body: { name: 'Dashboard' } }))).api_key);
    admin = createTesseraClient({ baseUrl: gateway.url, apiKey: adminKey });
    for (const name of ['kitchen', 'engineering']) await unwrap(admin.POST('/v1/groups', { body: { name } }));
    // Never trained on: what the deletion proof compares the deleted text with.
    await uploadDataset(
      'weather',
      domainTexts('weather', 40, 5).map((text, i) => ({ text, document_id: `report-${i}` })),
    );
    uploadFile = path.join(dataDir, 'recipes.jsonl');
    const canary = ['tomatoes', 'basil', 'garlic', 'onions'].map((herb) =>
      JSON.stringify({
        text: `grandma's secret sauce: simmer 3 cups of ${herb} and whisper the code 7f3a91c2e4.`,
        document_id: 'secret-sauce',
        access_group: 'kitchen',
      }),
    );
    await writeFile(uploadFile, `${(await readFile(RECIPES_FILE, 'utf8')).trimEnd()}\n${canary.join('\n')}\n`);
    codeAdapterTrained = trainCodeAdapter();
    browser = await launchChromium();
    // A context of its own: axe-core's Playwright runner needs one.
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    // Failed requests are counted below by URL; every other console error (a CSP refusal, say) counts here.
    page.on(
      'console',
      (message) =>
        message.type() === 'error' &&
        !message.text().startsWith('Failed to load resource') &&
        consoleErrors.push(message.text()),
    );
    page.on(
      'response',
      (response) =>
        response.status() >= 400 &&
        failedRequests.push(`${response.status()} ${response.request().method()} ${new URL(response.url()).pathname}`),
    );
  });

  after(async () => {
    await browser?.close();
    await receiver?.close();
    await worker?.stop();
    await gateway?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function uploadDataset(name: string, records: Array<{ text: string; document_id: string }>) {
    const dataset = await unwrap(admin.POST('/v1/datasets', { body: { name, format: 'text' } }));
    const uploaded = await fetch(`${gateway.url}/v1/datasets/${dataset.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/x-ndjson' },
      body: records.map((r) => JSON.stringify(r)).join('\n'),
    });
    assert.equal(uploaded.status, 200, await uploaded.text());
    return dataset;
  }

  async function trainCodeAdapter() {
    const dataset = await uploadDataset(
      'code',
      domainTexts('code', 40, 3).map((text, i) => ({ text, document_id: `code-${i}` })),
    );
    const hyperparameters = { max_steps: 16, batch_size: 4, max_sequence_length: 96, learning_rate: 1e-2, seed: 1 };
    const job = await unwrap(
      admin.POST('/v1/fine-tunes', {
        body: { base_model: 'tessera-demo', dataset_id: dataset.id, adapter_name: 'code', hyperparameters },
      }),
    );
    for (let i = 0; ; i++) {
      const current = await unwrap(admin.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: job.id } } }));
      if (current.status === 'succeeded') return;
      assert.ok(current.status !== 'failed' && i < 2400, `code fine-tune: ${current.status}\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const nav = (label: string, on: Page = page) =>
    on.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true });

  /** Runs axe-core (WCAG 2.1 A and AA) on the page as it is, keeping what it finds under `state`. */
  async function audit(state: string, on: Page = page) {
    const result = await new AxeBuilder({ page: on }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    assert.ok(result.passes.length > 10, `${state}: axe-core checked the page (${result.passes.length} rules passed)`);
    for (const v of result.violations)
      violations.push(
        `${state}: ${v.id} ×${v.nodes.length} (${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(' | ')})`,
      );
  }

  /**
   * Polls an expression in the page until it is true (waitForFunction would evaluate it with
   * eval, which the dashboard's Content-Security-Policy rightly refuses).
   */
  async function until(on: Page, expression: string, timeoutMs = 15_000) {
    for (const started = Date.now(); !(await on.evaluate(expression)); await on.waitForTimeout(50))
      assert.ok(Date.now() - started < timeoutMs, `not within ${timeoutMs} ms: ${expression}`);
  }

  /** A screenshot and an audit of the same state. */
  async function capture(name: string, on: Page = page) {
    await screenshot(on, name);
    await audit(name, on);
  }

  it('sign in, upload, fine-tune with live progress, playground in two modes with gates, delete a document and see its proof', async () => {
    // Sign in: a wrong key is refused in words, the right one opens the overview.
    await page.goto(`${gateway.url}/`);
    await page.getByLabel('API key').fill('tsk_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /API key/i, 'the refusal says what is wrong');
    await capture('00-sign-in-refused');
    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await nav('Overview').waitFor();
    await capture('01-overview');

    // Upload: a new dataset, its file with a progress bar, then its documents with their groups.
    await nav('Datasets').click();
    const newDataset = page.getByRole('form', { name: 'New dataset' });
    await newDataset.getByLabel('Name').fill('recipes');
    await newDataset.getByRole('button', { name: 'Create dataset' }).click();
    const upload = page.getByRole('form', { name: 'Upload content' });
    await upload.getByLabel('JSONL file').setInputFiles(uploadFile);
    await upload.getByRole('button', { name: 'Upload' }).click();
    const documents = page.getByTestId('documents-table');
    await documents.getByText('recipe-01', { exact: true }).waitFor();
    assert.ok(await documents.getByText('kitchen').first().isVisible(), 'documents show their access group');
    await capture('02-dataset');

    // Fine-tune: the form, then live progress to done with loss curves.
    await nav('Fine-tunes').click();
    const form = page.getByRole('form', { name: 'New fine-tune' });
    await form.getByLabel('Dataset').selectOption({ label: 'recipes (41 documents)' });
    await form.getByLabel('Adapter name').fill('recipes');
    await form.getByLabel('Max steps (overrides epochs)').fill(QUICK.max_steps);
    await form.getByLabel('Batch size').fill(QUICK.batch_size);
    await form.getByLabel('Max sequence length').fill(QUICK.max_sequence_length);
    await form.getByLabel('Learning rate').fill(QUICK.learning_rate);
    await form.getByRole('button', { name: 'Start fine-tune' }).click();
    const progress = page.getByTestId('fine-tune-progress').getByRole('progressbar');
    await progress.waitFor();
    const seen = new Set<number>();
    const deadline = Date.now() + TRAINING_TIMEOUT_MS;
    for (;;) {
      seen.add(Number(await progress.getAttribute('aria-valuenow')));
      const status = await page.getByTestId('fine-tune-status').textContent();
      if (status === 'succeeded') break;
      assert.notEqual(status, 'failed', worker.output());
      assert.ok(Date.now() < deadline, `the fine-tune did not finish: ${status}\n${worker.output()}`);
      await page.waitForTimeout(250);
    }
    assert.equal(await progress.getAttribute('aria-valuenow'), '100');
    assert.ok(
      [...seen].some((value) => value > 0 && value < 100),
      `progress moved while training (seen ${[...seen].sort((a, b) => a - b).join(', ')})`,
    );
    const lossChart = page.getByTestId('loss-chart');
    await lossChart.locator('path').first().waitFor();
    // Validation loss is a curve: evaluated ten times over the 40 steps, not once at the end.
    const validationPath = await lossChart.locator('path[data-series="validation loss"]').getAttribute('d');
    assert.equal(validationPath?.split(' ').length, 10, `validation points: ${validationPath}`);
    await capture('03-fine-tune');

    // Playground: adapter mode streams a completion; token mode shows the gate heatmap.
    await codeAdapterTrained;
    await nav('Playground').click();
    const playground = page.getByRole('form', { name: 'Completion' });
    await playground.getByRole('combobox', { name: /^Model/ }).selectOption('recipes');
    await playground.getByRole('textbox', { name: /^Prompt/ }).fill('mix 2 cups of flour with');
    await playground.getByRole('combobox', { name: /^Routing mode/ }).selectOption('adapter');
    await playground.getByRole('spinbutton', { name: /^Temperature/ }).fill('0');
    await playground.getByRole('button', { name: 'Run' }).click();
    const output = page.getByTestId('completion-output');
    await page.getByRole('region', { name: 'Routing trace' }).waitFor();
    await output.filter({ hasText: /\S/ }).waitFor();
    await capture('04-playground-adapter');

    await playground.getByRole('combobox', { name: /^Model/ }).selectOption('tessera-demo');
    await playground.getByRole('combobox', { name: /^Routing mode/ }).selectOption('token');
    await playground.getByLabel('Return per-token gates').check();
    await playground.getByRole('button', { name: 'Run' }).click();
    const heatmap = page.getByTestId('gate-heatmap');
    await heatmap.waitFor({ timeout: 60_000 });
    const heatmapText = (await heatmap.textContent()) ?? '';
    assert.match(heatmapText, /recipes/);
    assert.match(heatmapText, /code/);
    await capture('05-playground-token-heatmap');

    // Delete a document and follow the deletion to its proof.
    await nav('Datasets').click();
    await page.getByRole('link', { name: 'recipes', exact: true }).click();
    await page.getByRole('checkbox', { name: 'Select document secret-sauce' }).check();
    await page.getByRole('button', { name: 'Delete selected (1)' }).click();
    await page.getByRole('button', { name: 'Confirm deleting 1 document' }).click();
    const proof = page.getByTestId('deletion-proof');
    await proof.waitFor({ timeout: TRAINING_TIMEOUT_MS });
    const before = Number(await proof.getByTestId('loss-before').textContent());
    const afterLoss = Number(await proof.getByTestId('loss-after').textContent());
    assert.ok(
      afterLoss > before,
      `the canary scores worse once its adapter is retrained without it (${before} → ${afterLoss})`,
    );
    const unseenMean = Number(
      await proof
        .getByTestId('unseen-mean')
        .textContent()
        .then((t) => t?.split('±')[0]),
    );
    assert.ok(Number.isFinite(unseenMean), 'the never-trained weather reports are the baseline');
    assert.match(
      (await proof.getByTestId('looks-unseen').textContent()) ?? '',
      /^(Looks unseen|Inconclusive): .*never-seen text scores/,
      'with a baseline the proof is judged against it, the statistic in words',
    );
    assert.match((await proof.getByTestId('unseen-line').textContent()) ?? '', /\(mean − \d/);
    await capture('06-deletion-proof');

    // The overview counts the playground's requests under their adapters.
    await nav('Overview').click();
    await page.getByTestId('usage-chart').locator('g.bar-row[data-label="recipes"]').waitFor();
    await capture('07-overview-usage');

    assert.deepEqual(consoleErrors, [], 'no script errors in the page');
    assert.deepEqual(failedRequests, ['401 GET /v1/me'], "the wrong key's sign-in is the one request that fails");
    assert.deepEqual(violations, [], 'axe-core finds no WCAG 2.1 AA violation on any page or state');
  });

  it('webhooks: a new endpoint shows its secret once, a test ping is delivered signed, and its attempt is listed', async () => {
    await nav('Webhooks').click();
    await page.getByRole('button', { name: 'New endpoint' }).click();
    const form = page.getByRole('form', { name: 'New webhook endpoint' });
    await form.getByRole('textbox', { name: /^URL/ }).fill(receiver.url);
    await form.getByRole('button', { name: 'Create endpoint' }).click();
    const secret = (await page.getByTestId('secret-value').textContent()) ?? '';
    assert.match(secret, /^whsec_/);
    await page.getByRole('link', { name: 'Open the endpoint' }).click();
    await page.getByRole('button', { name: 'Send test ping' }).click();
    const deliveries = page.getByRole('table', { name: 'Deliveries' });
    const row = deliveries.locator('tr', { hasText: 'ping' }).first();
    await row.getByText('succeeded').waitFor({ timeout: 30_000 });
    await row.getByRole('button', { name: 'Show attempts' }).click();
    await page
      .getByRole('table', { name: /^Attempts of ping/ })
      .getByText('204')
      .waitFor();
    await capture('08-webhook-ping-delivered');

    await receiver.event('ping');
    assert.match(String(receiver.received.at(-1)!.headers['webhook-signature']), /^v1,/);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(failedRequests, ['401 GET /v1/me'], 'no request failed');
    assert.deepEqual(violations, []);
  });

  it('at 390 px wide every page fits the screen, passes axe-core, and takes focus and the title on navigation', async () => {
    const narrow = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
    narrow.on('pageerror', (error) => consoleErrors.push(error.message));
    await narrow.goto(`${gateway.url}/`);
    await capture('narrow-00-sign-in', narrow);
    await narrow.getByLabel('API key').fill(adminKey);
    await narrow.getByRole('button', { name: 'Sign in' }).click();
    await narrow.locator('main h1', { hasText: 'Overview' }).waitFor();
    // The skip link is the first thing focusable, shows when focused, and moves focus to the page's heading.
    // (Expressions as strings: they run in the page, and the e2e code is typed for Node.)
    assert.equal(
      await narrow.evaluate(
        `document.querySelector('a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])').outerHTML`,
      ),
      '<a class="skip-link" href="#content">Skip to content</a>',
    );
    const skip = narrow.getByRole('link', { name: 'Skip to content' });
    await skip.focus();
    assert.ok(await skip.isVisible());
    await narrow.keyboard.press('Enter');
    await until(narrow, "document.activeElement === document.querySelector('main h1') && location.hash === ''");
    // Overview last: its link is the page already shown, and following it changes nothing.
    const pages = [
      'Datasets',
      'Fine-tunes',
      'Adapters',
      'Compositions',
      'Playground',
      'Webhooks',
      'Groups & keys',
      'Overview',
    ];
    for (const [i, label] of pages.entries()) {
      await nav(label, narrow).click();
      // The new page is in when focus is on a heading again (the click left it on the link) and nothing loads.
      await until(
        narrow,
        "document.activeElement === document.querySelector('main h1') && !document.querySelector('main').textContent.includes('Loading…')",
      );
      const heading = (await narrow.evaluate(`({
        focused: document.activeElement === document.querySelector('main h1'),
        text: document.querySelector('main h1').textContent,
        title: document.title,
        current: document.querySelector('[aria-current="page"]')?.textContent,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
      })`)) as { focused: boolean; text: string; title: string; current: string; overflow: number };
      assert.equal(heading.title, `${heading.text} · Tessera`);
      assert.equal(heading.current, label);
      assert.ok(heading.overflow <= 0, `${label}: the page is ${heading.overflow} px wider than the screen`);
      await capture(`narrow-${String(i + 1).padStart(2, '0')}-${label.replace(/\W+/g, '-').toLowerCase()}`, narrow);
    }
    await narrow.close();
    assert.deepEqual(violations, [], 'axe-core finds no WCAG 2.1 AA violation at 390 px');
    assert.deepEqual(consoleErrors, []);
  });
});
