// Inference: the cost of serving through the platform, and of each routing mode.
// 32 concurrent streams on 32 different adapters of the demo model go through gateway →
// BullMQ → worker → Redis pub/sub → SSE, and the same 32 requests run on the engine alone in
// this process with the worker's settings (a scheduler over a slot pool of every projection,
// rank 16, batch 32). Then the same load in mixture (k = 3), auto (centroid) and token mode
// (Arrow over 3 candidates, and learned-gate compositions over 3 members).
// Rounds alternate gateway and engine; medians are reported. Tokens per second count the
// completion tokens the requests got.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { startPlatform, streamCompletion, uploadAdapter } from './lib/bench-platform.mjs';
import { median, percentile } from './lib/engine-common.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const STREAMS = 32;
const MAX_TOKENS = QUICK ? 8 : 48;
const ROUNDS = QUICK ? 1 : 3;
/** Sequential requests for the gateway's own TTFT (the first of each path is a warm-up). */
const SINGLE_REQUESTS = QUICK ? 3 : 33;
const RANK = 8;
const DOMAINS = ['weather', 'recipes', 'sports', 'code', 'chemistry', 'travel'];

export default async function inferenceBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const platform = await startPlatform();
  const { url, key, client, appUrl } = platform;

  try {
    const model = await engine.importHfCheckpoint(path.join(ROOT, 'models/tessera-demo'));
    const tokenizer = new engine.ByteTokenizer();
    const config = model.config;
    const { unwrap } = await import('@tessera/sdk');

    // 32 random rank-8 adapters on c_attn (PEFT's default for GPT-2), uploaded in the PEFT format.
    step(`uploading ${STREAMS} adapters`);
    const adapters = [];
    for (let i = 0; i < STREAMS; i++) {
      const random = engine.seededRandom(100 + i);
      const factors = new Map();
      for (let layer = 0; layer < config.nLayers; layer++) {
        factors.set(`h.${layer}.attn.c_attn`, {
          a: Float32Array.from({ length: config.dModel * RANK }, () => (random() - 0.5) * 0.2),
          b: Float32Array.from({ length: RANK * 3 * config.dModel }, () => (random() - 0.5) * 0.2),
        });
      }
      const lora = { rank: RANK, alpha: 2 * RANK, targetModules: ['attn.c_attn'], factors };
      const files = engine.writePeftAdapter(lora, 'tessera-demo');
      const adapter = await uploadAdapter(platform, { name: `bench-${i}`, baseModel: 'tessera-demo', files });
      adapters.push({ name: adapter.name, lora: engine.readPeftAdapter(files) });
    }
    // Routing keys for auto mode: each adapter stands for one of six domains (uploads carry no centroid).
    const centroids = await Promise.all(
      DOMAINS.map((domain) =>
        engine.poolingCentroid(
          { ...model, tokenizer },
          engine.domainTexts(domain, 24, 1).map((text) => ({ tokens: tokenizer.encode(text), counted: [] })),
          128,
        ),
      ),
    );
    const db = new pg.Client({ connectionString: appUrl.replace('tessera_app@', 'postgres@') });
    await db.connect();
    const versions = (
      await db.query('SELECT v.id, a.name FROM adapter_versions v JOIN adapters a ON a.id = v.adapter_id')
    ).rows;
    for (const v of versions)
      await db.query('UPDATE adapter_versions SET centroid = $1 WHERE id = $2', [
        Buffer.from(centroids[Number(v.name.slice(6)) % DOMAINS.length].buffer),
        v.id,
      ]);
    await db.end();

    const prompts = Array.from({ length: STREAMS }, (_, i) =>
      engine.domainTexts(DOMAINS[i % DOMAINS.length], 1, 50 + i)[0].slice(0, 40),
    );
    const sampling = (i) => ({ temperature: 0.8, seed: i });

    /** One round through the gateway: every stream's first-token time, gaps and tokens. */
    const throughGateway = async (routingOf, modelOf = () => 'tessera-demo') => {
      const started = performance.now();
      const streams = await Promise.all(
        prompts.map(async (prompt, i) => {
          const routing = routingOf(i);
          const times = [];
          const { completionTokens } = await streamCompletion(
            platform,
            { model: modelOf(i), prompt, max_tokens: MAX_TOKENS, ...sampling(i), ...(routing ? { routing } : {}) },
            () => times.push(performance.now()),
          );
          return { times, tokens: completionTokens };
        }),
      );
      return summarize(streams, started);
    };

    /**
     * The same requests on the engine alone, with the worker's serving settings: a router session
     * and a fixed-gates one for steps that route no token; and, to see what that second session
     * buys, the router session alone.
     */
    const session = await engine.DecoderSession.load(config, model.weights, {
      lora: { modules: engine.targetModules(config), rank: 16, router: true, skipUntouched: true },
    });
    const fixedGatesSession = await engine.DecoderSession.load(config, model.weights, {
      lora: { modules: engine.targetModules(config), rank: 16, skipUntouched: true },
    });
    const makeScheduler = ({ withFixedGates = true } = {}) => {
      const pool = new engine.SlotPool(config, {
        slots: 65,
        rank: 16,
        modules: engine.targetModules(config),
        router: true,
      });
      return new engine.BatchScheduler(session, pool, tokenizer, {
        maxBatch: 32,
        prefillChunk: 128,
        maxBatchTokens: 1024,
        ...(withFixedGates ? { fixedGatesSession } : {}),
      });
    };
    const inProcess = async ({ withFixedGates = true } = {}) => {
      const scheduler = makeScheduler({ withFixedGates });
      const started = performance.now();
      const streams = await Promise.all(
        prompts.map(async (prompt, i) => {
          const times = [];
          const result = await scheduler.generate({
            prompt: tokenizer.encode(prompt),
            adapters: [{ id: adapters[i].name, load: () => adapters[i].lora }],
            maxTokens: MAX_TOKENS,
            sampling: sampling(i),
            onToken: (_t, text) => text && times.push(performance.now()),
          });
          return { times, tokens: result.tokens.length };
        }),
      );
      return summarize(streams, started);
    };

    // Learned gates (compose jobs on the worker): 8 compositions, each over 3 of the adapters.
    step('training 8 learned-gate compositions');
    const gateData = await unwrap(client.POST('/v1/datasets', { body: { name: 'gate-data', format: 'text' } }));
    const gateLines = DOMAINS.flatMap((domain) => engine.domainTexts(domain, 8, 3)).map((text, i) =>
      JSON.stringify({ text, document_id: `g-${i}` }),
    );
    const gatePut = await fetch(`${url}/v1/datasets/${gateData.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
      body: gateLines.join('\n'),
    });
    if (gatePut.status !== 200) throw new Error(`dataset upload answered ${gatePut.status}`);
    const GATES = 8;
    const gateIds = [];
    for (let g = 0; g < GATES; g++) {
      const members = [0, 1, 2].map((j) => ({ adapter: adapters[(g + j) % STREAMS].name }));
      gateIds.push(
        (
          await unwrap(
            client.POST('/v1/compositions', {
              body: {
                name: `gate-${g}`,
                method: 'learned_gate',
                members,
                params: { dataset_id: gateData.id, max_steps: 6 },
              },
            }),
          )
        ).id,
      );
    }
    for (const id of gateIds) {
      for (let i = 0; ; i++) {
        const current = await unwrap(
          client.GET('/v1/compositions/{composition_id}', { params: { path: { composition_id: id } } }),
        );
        if (current.status === 'ready') break;
        if (current.status === 'failed' || i > 6000)
          throw new Error(`composition ${id}: ${current.status} ${current.error}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }

    const modes = {
      adapter: (i) => ({ mode: 'adapter', adapters: [{ name: adapters[i].name }] }),
      mixture_k3: (i) => ({
        mode: 'mixture',
        adapters: [0, 1, 2].map((j) => ({ name: adapters[(i + j) % STREAMS].name, weight: 1 / 3 })),
      }),
      auto_centroid: () => ({ mode: 'auto', top_k: 1 }),
      token_arrow: (i) => ({
        mode: 'token',
        adapters: [0, 1, 2].map((j) => ({ name: adapters[(i + j) % STREAMS].name })),
        top_k: 1,
      }),
    };
    const gateModel = (i) => `gate-${i % GATES}`;
    step('warming up (model load, adapter loads)');
    await throughGateway(modes.adapter);
    await inProcess();
    await inProcess({ withFixedGates: false });
    await throughGateway(modes.token_arrow);
    await throughGateway(() => undefined, gateModel);
    const rounds = {
      gateway: [],
      engine: [],
      engine_router_session_only: [],
      mixture_k3: [],
      auto_centroid: [],
      token_arrow: [],
      token_gate: [],
    };
    for (let round = 0; round < ROUNDS; round++) {
      rounds.gateway.push(await throughGateway(modes.adapter));
      // Which of the two in-process variants goes first alternates by round.
      for (const withFixedGates of round % 2 ? [false, true] : [true, false])
        (withFixedGates ? rounds.engine : rounds.engine_router_session_only).push(await inProcess({ withFixedGates }));
      rounds.mixture_k3.push(await throughGateway(modes.mixture_k3));
      rounds.auto_centroid.push(await throughGateway(modes.auto_centroid));
      rounds.token_arrow.push(await throughGateway(modes.token_arrow));
      rounds.token_gate.push(await throughGateway(() => undefined, gateModel));
      step(
        `round ${round + 1}/${ROUNDS}: gateway ${rounds.gateway.at(-1).tokens_per_s} tok/s, engine ${rounds.engine.at(-1).tokens_per_s} tok/s`,
      );
    }
    // One request at a time, so the first token's time is the path's own (no other request's
    // prefill ahead of it): what the gateway adds to TTFT is gateway minus engine, per percentile.
    const single = { gateway: [], engine: [] };
    const warmScheduler = makeScheduler();
    for (let i = 0; i < SINGLE_REQUESTS; i++) {
      const prompt = prompts[i % STREAMS];
      const viaGateway = async () => {
        const started = performance.now();
        let first;
        await streamCompletion(
          platform,
          { model: 'tessera-demo', prompt, max_tokens: 4, ...sampling(i), routing: modes.adapter(i % STREAMS) },
          () => (first ??= performance.now()),
        );
        if (first === undefined) throw new Error('a single request through the gateway streamed no token');
        single.gateway.push(first - started);
      };
      const inEngine = async () => {
        const started = performance.now();
        let first;
        await warmScheduler.generate({
          prompt: tokenizer.encode(prompt),
          adapters: [{ id: adapters[i % STREAMS].name, load: () => adapters[i % STREAMS].lora }],
          maxTokens: 4,
          sampling: sampling(i),
          onToken: () => (first ??= performance.now()),
        });
        single.engine.push(first - started);
      };
      for (const run of i % 2 ? [inEngine, viaGateway] : [viaGateway, inEngine]) await run();
    }
    // The first of each is a warm-up (an adapter load on the warm scheduler).
    const ttft = (list, p) => Math.round(percentile(list.slice(1), p) * 10) / 10;
    const singleRequest = {
      requests: SINGLE_REQUESTS - 1,
      gateway_ttft_ms: { p50: ttft(single.gateway, 0.5), p99: ttft(single.gateway, 0.99) },
      engine_ttft_ms: { p50: ttft(single.engine, 0.5), p99: ttft(single.engine, 0.99) },
    };
    singleRequest.ttft_added_ms = {
      p50: Math.round((singleRequest.gateway_ttft_ms.p50 - singleRequest.engine_ttft_ms.p50) * 10) / 10,
      p99: Math.round((singleRequest.gateway_ttft_ms.p99 - singleRequest.engine_ttft_ms.p99) * 10) / 10,
    };
    step(
      `one request at a time: TTFT added by the gateway p50 ${singleRequest.ttft_added_ms.p50} ms, p99 ${singleRequest.ttft_added_ms.p99} ms`,
    );
    const med = (list) => Object.fromEntries(Object.keys(list[0]).map((k) => [k, median(list.map((r) => r[k]))]));
    const gatewayFigures = med(rounds.gateway);
    const engineFigures = med(rounds.engine);
    const results = {
      machine: {
        cpu: os.cpus()[0]?.model ?? 'unknown',
        cores: os.availableParallelism(),
        node: process.version,
        date: new Date().toISOString(),
      },
      settings: {
        model: 'tessera-demo',
        streams: STREAMS,
        adapters: STREAMS,
        rank: RANK,
        max_tokens: MAX_TOKENS,
        rounds: ROUNDS,
        pool: 'every projection, rank 16, 64 slots',
        note: 'gateway, worker, Postgres and Redis on this machine; medians over alternating rounds',
      },
      gateway: gatewayFigures,
      engine_in_process: engineFigures,
      gateway_overhead_ratio: round3(gatewayFigures.tokens_per_s / engineFigures.tokens_per_s),
      single_request: singleRequest,
      engine_router_session_only: med(rounds.engine_router_session_only),
      fixed_gates_session_speedup: round3(
        engineFigures.tokens_per_s / med(rounds.engine_router_session_only).tokens_per_s,
      ),
      mode_throughput_vs_adapter: {
        mixture_k3: round3(med(rounds.mixture_k3).tokens_per_s / gatewayFigures.tokens_per_s),
        auto_centroid: round3(med(rounds.auto_centroid).tokens_per_s / gatewayFigures.tokens_per_s),
        token_gate: round3(med(rounds.token_gate).tokens_per_s / gatewayFigures.tokens_per_s),
        token_arrow: round3(med(rounds.token_arrow).tokens_per_s / gatewayFigures.tokens_per_s),
        note: 'token: 3 candidates per request, routed in every adapted projection (Arrow top-1; learned gates of 8 compositions)',
      },
      modes: {
        mixture_k3: med(rounds.mixture_k3),
        auto_centroid: med(rounds.auto_centroid),
        token_arrow: med(rounds.token_arrow),
        token_gate: med(rounds.token_gate),
      },
    };
    console.log('\n| path | tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |\n|---|---|---|---|---|---|');
    for (const [name, f] of [
      ['gateway, adapter', gatewayFigures],
      ['engine in-process', engineFigures],
      ['gateway, mixture k=3', results.modes.mixture_k3],
      ['gateway, auto', results.modes.auto_centroid],
      ['gateway, token (Arrow)', results.modes.token_arrow],
      ['gateway, token (learned gate)', results.modes.token_gate],
    ]) {
      console.log(
        `| ${name} | ${f.tokens_per_s} | ${f.ttft_ms_p50} | ${f.ttft_ms_p99} | ${f.itl_ms_p50} | ${f.itl_ms_p99} |`,
      );
    }
    const vs = results.mode_throughput_vs_adapter;
    console.log(
      `fixed_gates_session_speedup ${results.fixed_gates_session_speedup} (engine, adapter mode: with the fixed-gates session vs the router session alone)`,
    );
    console.log(
      `gateway_overhead_ratio ${results.gateway_overhead_ratio}; of adapter mode: mixture k=3 ${vs.mixture_k3}, auto ${vs.auto_centroid}, token Arrow ${vs.token_arrow}, token gate ${vs.token_gate}`,
    );
    if (QUICK) return;
    mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(path.join(ROOT, 'bench/results/inference.json'), JSON.stringify(results, null, 2) + '\n');
    console.log('written to bench/results/inference.json');
  } catch (error) {
    console.error(platform.output());
    throw error;
  } finally {
    await platform.stop();
  }
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

/** Tokens per second over the round, time to first token and gaps between tokens, in ms. */
function summarize(streams, started) {
  const ended = Math.max(...streams.map((s) => s.times.at(-1) ?? started));
  const tokens = streams.reduce((sum, s) => sum + s.tokens, 0);
  const ttft = streams.filter((s) => s.times.length).map((s) => s.times[0] - started);
  const itl = streams.flatMap((s) => s.times.slice(1).map((t, i) => t - s.times[i]));
  return {
    tokens_per_s: Math.round(tokens / ((ended - started) / 1000)),
    ttft_ms_p50: Math.round(percentile(ttft, 0.5)),
    ttft_ms_p99: Math.round(percentile(ttft, 0.99)),
    itl_ms_p50: Math.round(percentile(itl, 0.5) * 10) / 10,
    itl_ms_p99: Math.round(percentile(itl, 0.99) * 10) / 10,
  };
}
