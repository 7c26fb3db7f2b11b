// Dashboard: Lighthouse's accessibility and mobile performance scores for every page, as the
// gateway serves the built dashboard (compressed, split per page) to Debian's Chromium under
// Lighthouse's default mobile emulation (a mid-range phone, simulated slow 4G and 4× slower
// CPU). Signed-in pages get the key in sessionStorage before the app starts, as sign-in leaves
// it. Writes bench/results/dashboard.json; the goals are accessibility 100 and performance ≥ 95.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { prepareBenchServices } from './lib/bench-services.mjs';

const PLATFORM_KEY = 'bench-platform-admin-key-0123456789';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Each page by its route, and the heading that shows it rendered (not a loading or error state). */
const PAGES = [
  { name: 'sign-in', route: '', heading: 'Tessera', signedIn: false },
  { name: 'overview', route: '#/', heading: 'Overview' },
  { name: 'datasets', route: '#/datasets', heading: 'Datasets' },
  { name: 'fine-tunes', route: '#/fine-tunes', heading: 'Fine-tunes' },
  { name: 'adapters', route: '#/adapters', heading: 'Adapters' },
  { name: 'compositions', route: '#/compositions', heading: 'Compositions' },
  { name: 'playground', route: '#/playground', heading: 'Playground' },
  { name: 'webhooks', route: '#/webhooks', heading: 'Webhooks' },
  { name: 'access', route: '#/access', heading: 'Groups & keys' },
];

export default async function dashboardBench() {
  ensureInstalled();
  build();
  const { appUrl, redisUrl } = await prepareBenchServices();
  const { startGatewayProcess } = await import('../e2e/dist/gateway-process.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-dashboard-'));
  const gateway = await startGatewayProcess({
    DATABASE_URL: appUrl,
    REDIS_URL: redisUrl,
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `bench-${process.pid}`,
    PLATFORM_ADMIN_KEY: PLATFORM_KEY,
    DASHBOARD_DIR: path.join(ROOT, 'apps/dashboard/dist'),
  });
  const { default: lighthouse } = await import('lighthouse');
  const { default: puppeteer } = await import('puppeteer-core');
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking'],
  });
  try {
    const { createTesseraClient, unwrap } = await import('@tessera/sdk');
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    const key = (await unwrap(platform.POST('/v1/tenants', { body: { name: 'bench' } }))).api_key.secret;
    const pages = {};
    let version;
    for (const target of PAGES) {
      step(`lighthouse: ${target.name}`);
      const page = await browser.newPage();
      if (target.signedIn !== false)
        await page.evaluateOnNewDocument((apiKey) => sessionStorage.setItem('tessera.apiKey', apiKey), key);
      const url = `${gateway.url}/${target.route}`;
      const { lhr } = await lighthouse(
        url,
        { onlyCategories: ['performance', 'accessibility'], output: 'json' },
        undefined,
        page,
      );
      // What was measured is the page asked for, rendered: its heading is there, nothing failed.
      const heading = await page.$eval(target.signedIn === false ? 'h1' : 'main h1', (h) => h.textContent);
      version = lhr.lighthouseVersion;
      if (lhr.runtimeError) throw new Error(`${target.name}: ${lhr.runtimeError.message}`);
      if (heading !== target.heading)
        throw new Error(`${target.name}: the page shows "${heading}", not "${target.heading}"`);
      const audit = (id) => lhr.audits[id]?.numericValue;
      pages[target.name] = {
        accessibility: Math.round(lhr.categories.accessibility.score * 100),
        performance: Math.round(lhr.categories.performance.score * 100),
        first_contentful_paint_ms: Math.round(audit('first-contentful-paint')),
        largest_contentful_paint_ms: Math.round(audit('largest-contentful-paint')),
        total_blocking_time_ms: Math.round(audit('total-blocking-time')),
        cumulative_layout_shift: Number(audit('cumulative-layout-shift').toFixed(3)),
        transferred_kib: Math.round(audit('total-byte-weight') / 1024),
        failed_accessibility_audits: Object.values(lhr.audits)
          .filter((a) => lhr.categories.accessibility.auditRefs.some((r) => r.id === a.id) && a.score === 0)
          .map((a) => a.id),
      };
      console.log(
        `  ${target.name}: accessibility ${pages[target.name].accessibility}, performance ${pages[target.name].performance}`,
      );
      await page.close();
    }
    const scores = Object.values(pages);
    const result = {
      lighthouse: version,
      chromium: await browser.version(),
      emulation: "Lighthouse's default mobile: simulated slow 4G, 4× CPU slowdown, a 412×823 screen",
      pages,
      min_accessibility: Math.min(...scores.map((p) => p.accessibility)),
      min_performance: Math.min(...scores.map((p) => p.performance)),
    };
    writeFileSync(path.join(ROOT, 'bench/results/dashboard.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`min accessibility ${result.min_accessibility}, min performance ${result.min_performance}`);
  } finally {
    await browser.close();
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
