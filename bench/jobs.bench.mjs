// Jobs: how fast a fine-tune reaches a worker, and how fast its webhook reaches a receiver.
// Gateway and worker run as their own processes against Postgres and Redis, as in production;
// each of N tiny fine-tunes (one step) is timed from the POST to the worker starting it
// (the job's started_at) and from its end (finished_at) to the signed webhook arriving at a
// local receiver. One job at a time, so the figures are latencies, not queueing.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { prepareBenchServices } from './lib/bench-services.mjs';
import { percentile } from './lib/engine-common.mjs';

const JOBS = Number(process.env.BENCH_JOBS ?? (process.env.BENCH_QUICK === '1' ? 3 : 20));
const PLATFORM_KEY = 'bench-platform-admin-key-0123456789';

export default async function jobsBench() {
  ensureInstalled();
  build();
  const { appUrl, redisUrl } = await prepareBenchServices();

  const { startGatewayProcess } = await import('../e2e/dist/gateway-process.js');
  const { startWorkerProcess } = await import('../e2e/dist/worker-process.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-jobs-'));
  const env = {
    DATABASE_URL: appUrl,
    REDIS_URL: redisUrl,
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `bench-${process.pid}`,
    WEBHOOK_ALLOW_PRIVATE: 'true',
  };
  const gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
  const worker = await startWorkerProcess({ ...env, LOG_LEVEL: 'warn' });

  const arrivals = new Map();
  const receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const at = Date.now();
      const payload = JSON.parse(body);
      if (payload.type === 'fine_tune.succeeded') arrivals.set(payload.data.id, at);
      response.writeHead(204).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));

  try {
    const { createTesseraClient, unwrap } = await import('@tessera/sdk');
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    const key = (await unwrap(platform.POST('/v1/tenants', { body: { name: 'bench' } }))).api_key.secret;
    const client = createTesseraClient({ baseUrl: gateway.url, apiKey: key });
    await unwrap(
      client.POST('/v1/webhooks', {
        body: { url: `http://127.0.0.1:${receiver.address().port}/`, event_types: ['fine_tune.succeeded'] },
      }),
    );
    const dataset = await unwrap(client.POST('/v1/datasets', { body: { name: 'bench', format: 'text' } }));
    const lines = Array.from({ length: 16 }, (_, i) =>
      JSON.stringify({ text: `bench record number ${i}, a short line of text.` }),
    ).join('\n');
    const uploaded = await fetch(`${gateway.url}/v1/datasets/${dataset.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
      body: lines,
    });
    if (uploaded.status !== 200) throw new Error(`upload answered ${uploaded.status}`);

    const dispatch = [];
    const delivery = [];
    for (let i = 0; i < JOBS + 1; i++) {
      const posted = Date.now();
      const job = await unwrap(
        client.POST('/v1/fine-tunes', {
          body: {
            base_model: 'tessera-demo',
            dataset_id: dataset.id,
            adapter_name: `bench-${i}`,
            hyperparameters: { max_steps: 1, batch_size: 1, max_sequence_length: 32 },
            validation_split: 0,
          },
        }),
      );
      let done;
      for (;;) {
        done = await unwrap(client.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: job.id } } }));
        if (done.status !== 'queued' && done.status !== 'running') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (done.status !== 'succeeded') throw new Error(`job ${job.id} ${done.status}: ${JSON.stringify(done.error)}`);
      while (!arrivals.has(job.id)) await new Promise((resolve) => setTimeout(resolve, 2));
      if (i === 0) continue; // the first job loads the model into the worker: a cold start, not dispatch
      dispatch.push(Date.parse(done.started_at) - posted);
      delivery.push(arrivals.get(job.id) - Date.parse(done.finished_at));
      step(`job ${i}/${JOBS}: dispatch ${dispatch.at(-1)} ms, webhook ${delivery.at(-1)} ms`);
    }

    const results = {
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.availableParallelism(),
        node: process.version,
        date: new Date().toISOString(),
      },
      settings: {
        jobs: JOBS,
        note: 'one job at a time; gateway, worker, Postgres and Redis on this machine; clocks shared',
      },
      dispatch_ms_p50: percentile(dispatch, 0.5),
      dispatch_ms_p99: percentile(dispatch, 0.99),
      webhook_delivery_ms_p50: percentile(delivery, 0.5),
      webhook_delivery_ms_p99: percentile(delivery, 0.99),
      samples: { dispatch, delivery },
    };
    console.log(
      `\ndispatch (POST → worker starts):       p50 ${results.dispatch_ms_p50} ms, p99 ${results.dispatch_ms_p99} ms`,
    );
    console.log(
      `webhook (job finished → receiver has it): p50 ${results.webhook_delivery_ms_p50} ms, p99 ${results.webhook_delivery_ms_p99} ms`,
    );
    if (process.env.BENCH_QUICK === '1') return;
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench/results/jobs.json'), JSON.stringify(results, null, 2) + '\n');
    console.log('written to bench/results/jobs.json');
  } finally {
    await worker.stop();
    await gateway.stop();
    await new Promise((resolve) => receiver.close(resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}
