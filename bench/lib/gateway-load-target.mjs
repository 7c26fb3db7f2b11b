// The whole platform as a load target: gateway → BullMQ → worker → Redis pub/sub → SSE, on
// the demo model, a tenant with `adapters` rank-16 adapters (random factors on c_attn, PEFT's
// default for GPT-2) registered through the API, each request streaming from the
// OpenAI-compatible completions endpoint on its Zipf-drawn adapter.
import path from 'node:path';
import { ROOT } from '../../infra/scripts/lib/run.mjs';
import { startPlatform, streamCompletion, uploadAdapter } from './bench-platform.mjs';
import { randomAdapter } from './random-weight-reader.mjs';

const MODEL = 'tessera-demo';
const RANK = 16;
const MODULES = ['attn.c_attn'];
/** The worker's defaults: adapters beyond its 64 slots are swapped in. */
const WORKER = { slots: 64, maxBatch: 32 };

/**
 * The demo model's context is 256 tokens (prompt and output together): chat-sized prompts
 * with some longer ones, short answers with some long ones (means ≈ 53 and ≈ 33 tokens).
 */
const LENGTHS = {
  promptMix: [
    { weight: 0.7, min: 16, max: 48 },
    { weight: 0.3, min: 64, max: 128 },
  ],
  outputMix: [
    { weight: 0.6, min: 8, max: 24 },
    { weight: 0.4, min: 32, max: 64 },
  ],
};

/**
 * The same shape as engineLoadTarget's. The API cannot force an output length (no
 * ignore_eos), so a request may stop at end-of-text: the tokens counted are those the
 * usage chunk reports, the gaps those between streamed pieces (a token that completes no
 * character streams nothing). `start()` cannot reset the worker: slots and host cache stay
 * warm from the runs before.
 */
export async function gatewayLoadTarget(engine, { adapters, zipfS }) {
  // The bench's load would pass the default per-key rate limit (1,200 requests a minute).
  const platform = await startPlatform({ gatewayEnv: { RATE_LIMIT_PER_MINUTE: '10000000' } });
  try {
    const { config } = await engine.importHfCheckpoint(path.join(ROOT, 'models', MODEL));
    const names = [];
    for (let i = 0; i < adapters; i++) {
      const files = engine.writePeftAdapter(randomAdapter(engine, config, MODULES, RANK, 1000 + i), MODEL);
      names.push((await uploadAdapter(platform, { name: `load-${i}`, baseModel: MODEL, files })).name);
    }
    return {
      describe: {
        model: { name: MODEL, config },
        adapters: { count: adapters, zipf_s: zipfS, rank: RANK, modules: MODULES, worker_slots: WORKER.slots },
        worker: { maxBatch: WORKER.maxBatch },
        sampling: 'temperature 0.8, seeded per request',
        note: 'gateway, worker, Postgres and Redis on this machine; slots and host cache stay warm between runs; worker slot loads are not visible through the API, so each response’s routing trace is checked to name its drawn adapter',
      },
      workload: { ...LENGTHS, adapters, zipfS },
      concurrency: 2 * WORKER.maxBatch,
      exactLengths: false,
      start() {
        const served = new Set();
        return {
          async send(request, { onToken }) {
            const name = names[request.adapter];
            const { completionTokens, routing } = await streamCompletion(
              platform,
              {
                model: MODEL,
                prompt: String.fromCharCode(...request.prompt),
                max_tokens: request.outputTokens,
                temperature: 0.8,
                seed: request.index,
                routing: { mode: 'adapter', adapters: [{ name }] },
              },
              onToken,
            );
            const used = routing?.adapters?.map((a) => a.name) ?? [];
            if (used.length !== 1 || used[0] !== name)
              throw new Error(`request ${request.index} asked for ${name}; its routing trace names ${used.join(', ')}`);
            served.add(name);
            return { outputTokens: completionTokens };
          },
          check(requests) {
            const drawn = new Set(requests.map((r) => names[r.adapter]));
            if (served.size !== drawn.size)
              throw new Error(`gateway load run: ${served.size} adapters served, ${drawn.size} drawn`);
            return { distinct_adapters: drawn.size };
          },
        };
      },
      close: () => platform.stop(),
      output: platform.output,
    };
  } catch (error) {
    console.error(platform.output());
    await platform.stop();
    throw error;
  }
}
