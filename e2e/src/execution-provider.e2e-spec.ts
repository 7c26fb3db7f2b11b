import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { until } from './api-calls.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess } from './worker-process.js';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** What /readyz lists about one worker. */
interface ReadyWorker {
  provider: string;
  requested_provider: string;
  device: string;
  device_memory_bytes: number | null;
  threads: number;
}

/**
 * A worker configured for a GPU provider on a machine where it cannot start (no Vulkan
 * driver for WebGPU here, no CUDA libraries) serves on CPU, says so in one log line, and the
 * gateway shows which provider it asked for and which it got. On a machine where the provider
 * does start, the same test checks that it is reported as active and nothing is logged.
 */
describe('execution providers: a worker reports where its graphs run', () => {
  const env = {
    DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
    // Its own prefix: only this test's worker is listed.
    QUEUE_PREFIX: `e2e-provider-${process.pid}`,
  };
  let gateway: GatewayProcess;

  before(async () => {
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: 'e2e-provider-admin-key-0123456789' });
  });
  after(async () => {
    await gateway.stop();
  });

  const readyWorkers = async () => {
    const response = await fetch(`${gateway.url}/readyz`);
    assert.equal(response.status, 200);
    return ((await response.json()) as { workers: ReadyWorker[] }).workers;
  };

  for (const requested of ['webgpu', 'cuda'])
    it(`falls back from ${requested} to cpu with one clear line, shown on /readyz and /metrics`, async () => {
      assert.deepEqual(await readyWorkers(), []);
      const worker = await startWorkerProcess({
        ...env,
        EXECUTION_PROVIDER: requested,
        INFER_BASE_MODELS: '',
        WORKER_THREADS: '1',
        WORKER_HEARTBEAT_MS: '200',
      });
      try {
        const [listed] = await until(
          'the worker listed on /readyz',
          readyWorkers,
          (workers) => workers.length === 1,
          (workers) => workers.length > 1,
          () => worker.output(),
        );
        const fallbacks = worker.output().match(new RegExp(`${requested} execution provider unavailable.*`, 'g')) ?? [];
        const fellBack = listed!.provider === 'cpu';
        assert.equal(fallbacks.length, fellBack ? 1 : 0, worker.output());
        if (fellBack) assert.match(fallbacks[0]!, /\(.+\); running on CPU/, 'the line says why');
        assert.equal(listed!.requested_provider, requested);
        assert.ok(listed!.device.length > 0);
        assert.ok(fellBack ? listed!.device_memory_bytes! > 0 : listed!.device_memory_bytes !== 0);
        assert.equal(listed!.threads, 1);
        assert.match(worker.output(), new RegExp(`worker ready: .*, 1 threads, ${listed!.provider} on `));

        const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
        const info = metrics.split('\n').find((line) => line.startsWith('tessera_worker_info{'));
        assert.ok(info, metrics);
        assert.match(info, new RegExp(`provider="${listed!.provider}"`));
        assert.match(info, new RegExp(`requested_provider="${requested}"`));
        assert.match(info, / 1$/);
        if (listed!.device_memory_bytes !== null)
          assert.match(
            metrics,
            new RegExp(`tessera_worker_device_memory_bytes\\{worker=".+"\\} ${listed!.device_memory_bytes}`),
          );
        // The worker's own vitals from its heartbeat: resident memory (a loaded model's worth) and event-loop delay.
        const rss = /^tessera_worker_resident_memory_bytes\{worker=".+"\} (\d+)$/m.exec(metrics);
        assert.ok(rss && Number(rss[1]) > 50 * 2 ** 20, `a worker's RSS: ${rss?.[1]}`);
        assert.match(metrics, /^tessera_worker_event_loop_delay_seconds\{worker=".+",stat="p99"\} [\d.e-]+$/m);
      } finally {
        assert.equal(await worker.stop(), 0);
      }
      // A stopped worker withdraws its record at once.
      assert.deepEqual(await readyWorkers(), []);
    });
});
