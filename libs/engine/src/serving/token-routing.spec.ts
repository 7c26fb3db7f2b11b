import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { arrowPrototype } from '../adapter/arrow-prototype.js';
import type { LoraAdapter } from '../adapter/lora-adapter.js';
import { importHfCheckpoint } from '../model/hf-checkpoint.js';
import { DecoderSession } from '../model/decoder-session.js';
import { targetModules } from '../model/decoder-config.js';
import { matmul } from '../reference/reference-ops.js';
import { randomArray, seededRandom } from '../testing/random.js';
import { DOMAINS, domainTexts, type Domain } from '../testing/synthetic-domains.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { train, trainGate, type TrainingModel } from '../training/trainer.js';
import { BatchScheduler, type GenerateRequest } from './batch-scheduler.js';
import { SlotPool } from './slot-pool.js';

const DEMO_DIR = fileURLToPath(new URL('../../../../models/tessera-demo', import.meta.url));
const THREADS = { threads: 1 };
const RANK = 8;

describe('Arrow prototypes', () => {
  it('are the top input-side singular vector of ΔW = A·B (checked against power iteration on the dense ΔW·ΔWᵀ)', () => {
    const random = seededRandom(4);
    const [dIn, dOut, rank] = [24, 17, 5];
    const factors = { a: randomArray(random, dIn * rank, 1), b: randomArray(random, rank * dOut, 1) };
    const v = arrowPrototype(factors, rank);
    // Reference: form ΔW and ΔW·ΔWᵀ densely and iterate there.
    const delta = matmul(factors.a, factors.b, dIn, rank, dOut);
    const gram = new Float64Array(dIn * dIn);
    for (let i = 0; i < dIn; i++)
      for (let j = 0; j < dIn; j++)
        for (let o = 0; o < dOut; o++) gram[i * dIn + j]! += delta[i * dOut + o]! * delta[j * dOut + o]!;
    let u = new Float64Array(dIn).fill(1);
    for (let step = 0; step < 2000; step++) {
      const next = new Float64Array(dIn);
      for (let i = 0; i < dIn; i++) for (let j = 0; j < dIn; j++) next[i]! += gram[i * dIn + j]! * u[j]!;
      const norm = Math.hypot(...next);
      u = next.map((x) => x / norm);
    }
    const alignment = Math.abs(v.reduce((sum, x, i) => sum + x * u[i]!, 0));
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit length');
    assert.ok(alignment > 0.99999, `|⟨v, reference⟩| = ${alignment}`);
    assert.deepEqual(
      arrowPrototype({ a: new Float32Array(dIn * rank), b: factors.b }, rank),
      new Float32Array(dIn),
      'ΔW = 0 has no direction',
    );
  });
});

describe('token routing on the demo model (6 synthetic domains)', () => {
  let model: TrainingModel;
  const adapters = new Map<Domain, LoraAdapter>();
  let scheduler: BatchScheduler;
  /**
   * The worker's serving setup: a fixed-gates session beside the router one, both skipping the
   * projections no adapter of a step adapts, and how often each ran.
   */
  let twoSessions: BatchScheduler;
  const runs = { router: 0, fixed: 0 };
  const tokenizer = new ByteTokenizer();

  before(async () => {
    const { config, weights } = await importHfCheckpoint(DEMO_DIR);
    model = { name: 'tessera-demo', config, weights, tokenizer };
    for (const domain of DOMAINS) {
      const data = domainTexts(domain, 60, 1).map((text) => ({ text }));
      const result = await train({
        model,
        data,
        hyperparameters: {
          rank: RANK,
          alpha: 16,
          learningRate: 1e-2,
          batchSize: 8,
          maxSequenceLength: 96,
          epochs: 2,
          warmupSteps: 2,
          seed: 7,
          validationFraction: 0,
        },
        ...THREADS,
      });
      adapters.set(domain, result.adapter);
    }
    const modules = targetModules(config);
    const session = await DecoderSession.load(config, weights, {
      ...THREADS,
      lora: { modules, rank: RANK, router: true },
    });
    scheduler = new BatchScheduler(
      session,
      new SlotPool(config, { slots: 16, rank: RANK, modules, router: true }),
      tokenizer,
      { maxBatch: 8, prefillChunk: 128, maxBatchTokens: 1024 },
    );
    const counted = (s: DecoderSession, name: keyof typeof runs) =>
      Object.assign(Object.create(s) as DecoderSession, {
        forward: (input: Parameters<DecoderSession['forward']>[0]) => (runs[name]++, s.forward(input)),
      });
    const routerSession = counted(
      await DecoderSession.load(config, weights, {
        ...THREADS,
        lora: { modules, rank: RANK, router: true, skipUntouched: true },
      }),
      'router',
    );
    const fixedSession = counted(
      await DecoderSession.load(config, weights, { ...THREADS, lora: { modules, rank: RANK, skipUntouched: true } }),
      'fixed',
    );
    twoSessions = new BatchScheduler(
      routerSession,
      new SlotPool(config, { slots: 16, rank: RANK, modules, router: true }),
      tokenizer,
      { maxBatch: 8, prefillChunk: 128, maxBatchTokens: 1024, fixedGatesSession: fixedSession },
    );
  });

  /** The gates of every prompt token (one forward over the prompt; one token generated). */
  const gatesOf = async (
    text: string,
    request: Partial<GenerateRequest>,
    candidates: { id: string; adapter: LoraAdapter }[],
  ) => {
    const prompt = tokenizer.encode(text);
    const result = await scheduler.generate({
      prompt,
      maxTokens: 1,
      returnGates: true,
      adapters: candidates.map((c) => ({ id: c.id, load: () => c.adapter })),
      ...request,
    });
    return result.gates!.slice(0, prompt.length);
  };
  const meanOver = (rows: number[][]) =>
    rows[0]!.map((_, j) => rows.reduce((sum, row) => sum + row[j]!, 0) / rows.length);
  const argmax = (values: number[]) => values.indexOf(Math.max(...values));
  const everyDomain = () => DOMAINS.map((domain) => ({ id: domain, adapter: adapters.get(domain)! }));

  it('Arrow picks the right adapter for most held-out sentences without a task id (top-1 of the mean token gates)', async (t) => {
    let right = 0;
    let total = 0;
    for (const domain of DOMAINS) {
      for (const text of domainTexts(domain, 10, 99)) {
        const gates = await gatesOf(text, { tokenRouting: { kind: 'arrow', topK: 1 } }, everyDomain());
        if (DOMAINS[argmax(meanOver(gates))] === domain) right++;
        total++;
      }
    }
    t.diagnostic(
      `Arrow routing top-1 accuracy on held-out sentences: ${((right / total) * 100).toFixed(1)}% of ${total} over ${DOMAINS.length} domains`,
    );
    assert.ok(right / total >= 0.5, `Arrow top-1 accuracy ${right / total} (chance is 1/6)`);
  });

  it('moves the gates to the matching adapter when the input switches domain halfway (Arrow and a learned gate)', async (t) => {
    const pair = [
      { id: 'recipes', adapter: adapters.get('recipes')! },
      { id: 'code', adapter: adapters.get('code')! },
    ];
    const gate = await trainGate({
      model,
      adapters: pair.map((p) => p.adapter),
      data: [...domainTexts('recipes', 30, 4), ...domainTexts('code', 30, 4)].map((text) => ({ text })),
      hyperparameters: {
        learningRate: 1e-1,
        batchSize: 8,
        maxSequenceLength: 96,
        maxSteps: 60,
        warmupSteps: 2,
        seed: 1,
        validationFraction: 0,
      },
      ...THREADS,
    });
    const learned = pair.map((p, j) => ({ id: `gate:${p.id}`, adapter: { ...p.adapter, routers: gate.routers[j]! } }));
    const [first, second] = [domainTexts('recipes', 1, 123)[0]!, domainTexts('code', 1, 123)[0]!];
    const split = tokenizer.encode(first + ' ').length;
    for (const [kind, request, candidates] of [
      ['arrow', { tokenRouting: { kind: 'arrow', topK: 2 } }, pair],
      ['learned', { tokenRouting: { kind: 'learned' } }, learned],
    ] as const) {
      const gates = await gatesOf(`${first} ${second}`, request, candidates);
      // Skip a few tokens after each start: the state needs some context to know the domain.
      const before = meanOver(gates.slice(8, split));
      const after = meanOver(gates.slice(split + 8));
      t.diagnostic(
        `${kind}: mean gates (recipes, code) before the switch ${before.map((g) => g.toFixed(2))}, after ${after.map((g) => g.toFixed(2))}`,
      );
      assert.ok(before[0]! > before[1]!, `${kind}: recipes should lead before the switch: ${before}`);
      assert.ok(after[1]! > after[0]!, `${kind}: code should lead after the switch: ${after}`);
    }
  });

  it('a token-routed request in a batch gets the same tokens and gates as alone', async () => {
    const request = (text: string): GenerateRequest => ({
      prompt: tokenizer.encode(text),
      maxTokens: 6,
      returnGates: true,
      tokenRouting: { kind: 'arrow', topK: 2 },
      adapters: everyDomain()
        .slice(0, 4)
        .map((c) => ({ id: c.id, load: () => c.adapter })),
    });
    const text = domainTexts('sports', 1, 5)[0]!;
    const alone = await scheduler.generate(request(text));
    const [together] = await Promise.all([
      scheduler.generate(request(text)),
      scheduler.generate({
        prompt: tokenizer.encode('mix 2 cups of'),
        maxTokens: 6,
        adapters: [{ id: 'recipes', load: () => adapters.get('recipes')! }],
      }),
      scheduler.generate({ prompt: tokenizer.encode('let x = 4;'), maxTokens: 6 }),
    ]);
    assert.deepEqual(together!.tokens, alone.tokens);
    const drift = Math.max(
      ...alone.gates!.flatMap((row, t) => row.map((g, j) => Math.abs(g - together!.gates![t]![j]!))),
    );
    assert.ok(drift < 1e-4, `gates drift ${drift}`);
  });

  it('with a fixed-gates session beside it, fixed-gate steps skip the router and make the same tokens; routed steps still route (both sessions skipping untouched projections)', async () => {
    // Adapters on part of the model (every layer's c_attn, and layer 0), as placements make
    // them: most projections are untouched in every step, and the skipping sessions skip them.
    const part = (domain: Domain) => {
      const full = adapters.get(domain)!;
      const held = [...full.factors].filter(([key]) => key.endsWith('attn.c_attn') || key.startsWith('h.0.'));
      return { id: `part-${domain}`, load: (): LoraAdapter => ({ ...full, factors: new Map(held) }) };
    };
    const fixed = (text: string, adapter: Domain): GenerateRequest => ({
      prompt: tokenizer.encode(text),
      maxTokens: 8,
      adapters: [part(adapter)],
    });
    const mixture: GenerateRequest = {
      ...fixed('on monday the sky over', 'weather'),
      adapters: (['weather', 'travel'] as const).map((d) => ({ ...part(d), weight: 0.5 })),
    };
    const requests = [fixed('mix 2 cups of', 'recipes'), fixed('let x = 4;', 'code'), mixture];
    const oneSession = await Promise.all(requests.map((r) => scheduler.generate(r)));
    runs.router = runs.fixed = 0;
    const withFixed = await Promise.all(requests.map((r) => twoSessions.generate(r)));
    assert.deepEqual(
      withFixed.map((r) => r.tokens),
      oneSession.map((r) => r.tokens),
    );
    assert.equal(runs.router, 0, 'no step needed the router');
    assert.ok(runs.fixed > 0);

    const routed: GenerateRequest = {
      prompt: tokenizer.encode(domainTexts('sports', 1, 5)[0]!),
      maxTokens: 6,
      returnGates: true,
      tokenRouting: { kind: 'arrow', topK: 2 },
      adapters: DOMAINS.slice(0, 4).map(part),
    };
    const alone = await scheduler.generate(routed);
    runs.router = runs.fixed = 0;
    const [beside, fixedBeside] = await Promise.all([
      twoSessions.generate(routed),
      twoSessions.generate({ ...requests[0]!, maxTokens: 12 }),
    ]);
    assert.deepEqual(beside!.tokens, alone.tokens);
    // The fixed-gate row decodes past the routed one: its cache moves from the router session to the plain one.
    assert.deepEqual(fixedBeside!.tokens, (await scheduler.generate({ ...requests[0]!, maxTokens: 12 })).tokens);
    assert.ok(runs.router > 0, 'a batch with a routed row runs the router session');
    assert.ok(
      Math.max(...alone.gates!.flatMap((row, t) => row.map((g, j) => Math.abs(g - beside!.gates![t]![j]!)))) < 1e-4,
    );
  });
});
