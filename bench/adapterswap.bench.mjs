// AdapterSwap: what deleting one document costs when knowledge is split into per-partition
// adapters, against retraining one adapter over everything; and the canary figures of the
// deletion's proof. 16 partitions of 8 documents (synthetic domains, each document carrying
// a random canary) train on the demo model; one document is deleted: its partition retrains
// from the same seed without it (AdapterSwap) vs. one adapter retrains on all 127 documents
// (the monolithic baseline), same epochs, side by side in one run. Writes
// bench/results/adapterswap.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build, ensureInstalled, ROOT, step } from '../infra/scripts/lib/run.mjs';
import { demoModel, machine, median } from './lib/engine-common.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const THREADS = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const PARTITIONS = QUICK ? 4 : 16;
const DOCUMENTS = 8;
const ROUNDS = QUICK ? 1 : 3;

export default async function adapterSwapBench() {
  ensureInstalled();
  build();
  const engine = await import('@tessera/engine');
  const model = await demoModel(engine);
  const options = { threads: THREADS };
  const hyperparameters = {
    rank: 8,
    alpha: 16,
    learningRate: 2e-2,
    batchSize: 4,
    maxSequenceLength: 160,
    epochs: 8,
    warmupSteps: 2,
    seed: 11,
    validationFraction: 0,
  };
  const random = engine.seededRandom(3);
  const canary = () =>
    Array.from({ length: 14 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(random() * 36)]).join('');
  const partitions = Array.from({ length: PARTITIONS }, (_, p) =>
    engine
      .domainTexts(engine.DOMAINS[p % engine.DOMAINS.length], DOCUMENTS, 100 + p)
      .map((text) => ({ text: `${text} the vault code is ${canary()}.` })),
  );
  const unseen = engine
    .domainTexts(engine.DOMAINS[0], 12, 999)
    .map((text) => ({ text: `${text} the vault code is ${canary()}.` }));
  const [deleted, ...kept] = partitions[0];

  step(`training partition 0 of ${PARTITIONS} (${DOCUMENTS} documents)`);
  const original = await engine.train({ model, data: partitions[0], hyperparameters, ...options });
  const rounds = { partition: [], everything: [] };
  let retrained;
  for (let round = 0; round < ROUNDS; round++) {
    let started = performance.now();
    retrained = await engine.train({ model, data: kept, hyperparameters, ...options });
    rounds.partition.push((performance.now() - started) / 1000);
    started = performance.now();
    await engine.train({ model, data: [...kept, ...partitions.slice(1).flat()], hyperparameters, ...options });
    rounds.everything.push((performance.now() - started) / 1000);
    step(
      `round ${round + 1}/${ROUNDS}: one partition ${rounds.partition.at(-1).toFixed(1)} s, everything ${rounds.everything.at(-1).toFixed(1)} s`,
    );
  }
  // The audit scores each document on its own: with a fresh graph and session per document (as
  // evaluateAdapter does), or with one evaluator that takes the adapter's factors as feeds.
  // The reused path pays its one graph build and session, as an audit does once per adapter shape.
  const evalOptions = { ...options, maxSequenceLength: 160 };
  const audit = { fresh: [], reused: [] };
  const freshLosses = [];
  const reusedLosses = [];
  for (let round = 0; round < ROUNDS; round++) {
    let started = performance.now();
    for (const record of unseen)
      freshLosses.push((await engine.evaluateAdapter(model, retrained.adapter, [record], evalOptions)).loss);
    audit.fresh.push((performance.now() - started) / 1000);
    started = performance.now();
    const reused = await engine.AdapterEvaluator.create(model, retrained.adapter, evalOptions);
    for (const record of unseen) reusedLosses.push((await reused.evaluate(retrained.adapter, [record])).loss);
    await reused.release();
    audit.reused.push((performance.now() - started) / 1000);
  }
  if (freshLosses.some((l, i) => l !== reusedLosses[i]))
    throw new Error('one evaluator scored differently from fresh sessions');
  const evaluator = await engine.AdapterEvaluator.create(model, retrained.adapter, evalOptions);
  const loss = async (adapter, records) => (await evaluator.evaluate(adapter, records)).loss;
  step(
    `scoring ${unseen.length} documents one by one: fresh session each ${median(audit.fresh).toFixed(2)} s, one evaluator ${median(audit.reused).toFixed(2)} s`,
  );
  const unseenLosses = [];
  for (const record of unseen) unseenLosses.push(await loss(retrained.adapter, [record]));
  const mean = unseenLosses.reduce((a, b) => a + b, 0) / unseenLosses.length;
  const std = Math.sqrt(unseenLosses.reduce((a, b) => a + (b - mean) ** 2, 0) / unseenLosses.length);
  const canaries = {
    deleted_loss_before: await loss(original.adapter, [deleted]),
    deleted_loss_after: await loss(retrained.adapter, [deleted]),
    unseen_mean: mean,
    unseen_std: std,
    unseen_min: Math.min(...unseenLosses),
    unseen_max: Math.max(...unseenLosses),
  };
  const results = {
    machine: machine(engine, 'cpu'),
    settings: {
      model: 'tessera-demo',
      partitions: PARTITIONS,
      documents_per_partition: DOCUMENTS,
      epochs: hyperparameters.epochs,
      rank: 8,
      threads: THREADS,
      rounds: ROUNDS,
    },
    retrain_seconds: { one_partition: median(rounds.partition), everything: median(rounds.everything) },
    retrain_speedup: Math.round((median(rounds.everything) / median(rounds.partition)) * 100) / 100,
    audit_seconds: {
      documents: unseen.length,
      fresh_session_each: median(audit.fresh),
      one_evaluator: median(audit.reused),
    },
    audit_speedup: Math.round((median(audit.fresh) / median(audit.reused)) * 100) / 100,
    canaries: Object.fromEntries(Object.entries(canaries).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
    note: "retrain_speedup = seconds to retrain one adapter on every document ÷ seconds to retrain only the deleted document's partition (same epochs); audit_speedup = seconds to score the unseen canaries one by one with a fresh graph and session each ÷ with one AdapterEvaluator, its creation included (what the deletion audit now does; the losses are checked equal); canary losses in nats per token, the unseen figures over 12 never-trained canaries under the retrained adapter",
  };
  console.log(
    `| retrain | seconds |\n|---|---|\n| one partition (${DOCUMENTS - 1} documents) | ${results.retrain_seconds.one_partition.toFixed(2)} |\n| everything (${PARTITIONS * DOCUMENTS - 1} documents) | ${results.retrain_seconds.everything.toFixed(2)} |`,
  );
  await evaluator.release();
  console.log(
    `audit_speedup ${results.audit_speedup} (${unseen.length} documents: ${results.audit_seconds.fresh_session_each.toFixed(2)} s → ${results.audit_seconds.one_evaluator.toFixed(2)} s)`,
  );
  console.log(
    `retrain_speedup ${results.retrain_speedup}; canary loss before ${results.canaries.deleted_loss_before}, after ${results.canaries.deleted_loss_after}, unseen ${results.canaries.unseen_mean} ± ${results.canaries.unseen_std}`,
  );
  mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(path.join(ROOT, 'bench/results/adapterswap.json'), JSON.stringify(results, null, 2) + '\n');
}
