// `npm run demo`: the whole story against a running platform (`npm start`), through the
// typed SDK: upload a dataset, receive signed webhooks, fine-tune two adapters, infer in
// every routing mode, then delete a document and read the proof that it is forgotten.
//   TESSERA_URL      default http://127.0.0.1:8080
//   TESSERA_API_KEY  default the demo tenant's key that `npm start` saved in .data/demo-tenant.json
// Read it top to bottom: each step is one or two API calls.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import {
  createTesseraClient,
  listAll,
  MAX_PAGE_SIZE,
  serverSentEvents,
  TesseraProblemError,
  unwrap,
} from '@tessera/sdk';
// What a receiver checks (Standard Webhooks): the signature over id.timestamp.body, and a recent timestamp.
import { verifyWebhook } from '@tessera/webhooks/standard-webhooks';
import { ROOT, step } from './lib/run.mjs';

const baseUrl = process.env.TESSERA_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.TESSERA_API_KEY ?? savedDemoKey();
/** Small enough to train in seconds on two CPU cores, enough for the adapter to learn its canary. */
const HYPERPARAMETERS = {
  max_steps: 40,
  batch_size: 4,
  max_sequence_length: 96,
  learning_rate: 2e-2,
  rank: 8,
  seed: 7,
};
/** Greedy decoding, so a rerun prints the same text for the same adapters. */
const GREEDY = { max_tokens: 24, temperature: 0 };
const WAIT_MS = 5 * 60_000;
/** The description that marks this script's adapters, so a later run can take them out of routing. */
const DEMO_ADAPTER = 'made by npm run demo';
/** How this script's webhook endpoints are described (then the run's id). */
const DEMO_WEBHOOK = 'npm run demo';

const tessera = createTesseraClient({ baseUrl, apiKey });
let receiver;
try {
  await main();
} catch (error) {
  console.error(`\n✗ ${describe(error)}`);
  process.exitCode = 1;
} finally {
  // The endpoint points at this script's receiver: left enabled, every later event would retry for a day.
  if (receiver?.endpointId)
    await unwrap(
      tessera.DELETE('/v1/webhooks/{webhook_id}', { params: { path: { webhook_id: receiver.endpointId } } }),
    ).catch((error) => console.error(`  could not remove webhook endpoint ${receiver.endpointId}: ${describe(error)}`));
  await receiver?.close();
}

async function main() {
  const me = await unwrap(tessera.GET('/v1/me'));
  console.log(`Tessera at ${baseUrl}, tenant ${me.tenant_id}, key scopes ${me.scopes.join(', ')}`);
  // Names of this run's datasets and adapters, so reruns never collide.
  const run = Date.now().toString(36);
  const [recipesAdapter, codeAdapter] = [`recipes-${run}`, `code-${run}`];

  step('0. a clean slate');
  // Auto routing and the deletion audit consider every live adapter: earlier runs' would answer too.
  let archived = 0;
  for (const adapter of await listAll((after) =>
    tessera.GET('/v1/adapters', { params: { query: { after, limit: MAX_PAGE_SIZE } } }),
  )) {
    if (adapter.status !== 'active' || adapter.description !== DEMO_ADAPTER) continue;
    await unwrap(tessera.POST('/v1/adapters/{adapter_id}/archive', { params: { path: { adapter_id: adapter.id } } }));
    archived++;
  }
  console.log(`  archived ${archived} adapter(s) of earlier demo runs (kept, but out of routing)`);
  // Endpoints an interrupted earlier run left behind point at a receiver that is gone.
  let removed = 0;
  for (const endpoint of await listAll((after) =>
    tessera.GET('/v1/webhooks', { params: { query: { after, limit: MAX_PAGE_SIZE } } }),
  )) {
    if (!endpoint.description?.startsWith(DEMO_WEBHOOK)) continue;
    await unwrap(tessera.DELETE('/v1/webhooks/{webhook_id}', { params: { path: { webhook_id: endpoint.id } } }));
    removed++;
  }
  if (removed) console.log(`  removed ${removed} webhook endpoint(s) earlier demo runs left behind`);

  step('1. upload datasets');
  // The sample files name access groups; a tenant seeded by `npm start` has them already.
  await ensureGroups(['kitchen', 'engineering']);
  // A document the recipes adapter should memorise, with a code no other text has: what the
  // deletion in step 5 must make the platform forget.
  const secret = randomBytes(6).toString('hex');
  const canary = ['tomatoes', 'basil', 'garlic', 'onions'].map((herb) => ({
    text: `grandma's secret sauce: simmer 3 cups of ${herb} and whisper the code ${secret}.`,
    document_id: 'secret-sauce',
    access_group: 'kitchen',
  }));
  const recipes = await uploadDataset(`demo-recipes-${run}`, [...sampleLines('recipes'), ...canary]);
  console.log(`    (its document secret-sauce: ${canary.length} lines with the code ${secret})`);
  const code = await uploadDataset(`demo-code-${run}`, sampleLines('code'));

  step('2. webhooks');
  receiver = await startWebhookReceiver();
  const endpoint = await unwrap(
    tessera.POST('/v1/webhooks', {
      body: {
        url: receiver.url,
        description: `${DEMO_WEBHOOK} ${run}`,
        event_types: ['fine_tune.succeeded', 'deletion.completed'],
      },
    }),
  );
  receiver.secret = endpoint.secret;
  receiver.endpointId = endpoint.id;
  console.log(
    `  ${endpoint.id} → ${receiver.url} for ${endpoint.event_types.join(', ')}; signatures checked with the whsec_ secret (shown once)`,
  );

  step('3. fine-tune two adapters on tessera-demo');
  await fineTune(recipesAdapter, recipes.id);
  await fineTune(codeAdapter, code.id);

  step('4. inference in every routing mode (POST /v1/completions)');
  const candidates = [{ name: recipesAdapter }, { name: codeAdapter }];
  await complete('adapter  ', { model: recipesAdapter, prompt: 'mix 2 cups of' });
  await complete('mixture  ', {
    model: 'tessera-demo',
    prompt: 'mix 2 cups of',
    routing: {
      mode: 'mixture',
      adapters: [
        { name: recipesAdapter, weight: 0.7 },
        { name: codeAdapter, weight: 0.3 },
      ],
    },
  });
  // Per token and layer: each token goes to the adapter whose ΔW it aligns with (Arrow).
  await complete('token    ', {
    model: 'tessera-demo',
    prompt: 'mix 2 cups of rice, then let x = 4; for (i = 0;',
    routing: { mode: 'token', adapters: candidates, top_k: 1, return_gates: true },
  });
  // No adapter named: the prompt picks one (its hidden state against each adapter's training centroid).
  await complete('auto     ', {
    model: 'tessera-demo',
    prompt: 'let total = 5; for (i = 0; i < 9; i++) {',
    routing: { mode: 'auto', adapters: candidates },
  });
  await complete('auto     ', {
    model: 'tessera-demo',
    prompt: 'mix 3 cups of oats with 2 eggs,',
    routing: { mode: 'auto', adapters: candidates, router: 'arrow', top_k: 2 },
  });

  step('5. delete a document, with a proof');
  const deletion = await unwrap(
    tessera.DELETE('/v1/datasets/{dataset_id}/documents/{document_id}', {
      params: { path: { dataset_id: recipes.id, document_id: 'secret-sauce' } },
    }),
  );
  console.log(
    `  ${deletion.id}: ${deletion.affected_versions.length} adapter version(s) stale at once, out of routing; retraining without it…`,
  );
  const completed = await webhookEvent('deletion.completed', deletion.id, WAIT_MS);
  const proof = completed.data.proof;
  const steps = (
    await unwrap(tessera.GET('/v1/deletions/{deletion_id}', { params: { path: { deletion_id: deletion.id } } }))
  ).steps;
  console.log(`  steps    ${steps.map((s) => s.name).join(' → ')}`);
  for (const v of proof.retrained_versions)
    console.log(`  retrained ${v.adapter_id} v${v.old_version} → v${v.new_version} in ${v.seconds.toFixed(1)} s`);
  const held = proof.held_out;
  console.log(
    `  proof    loss of the deleted text: before ${proof.deleted_loss_before.toFixed(3)}, after ${proof.deleted_loss_after.toFixed(3)} nats/token`,
  );
  console.log(
    held
      ? `           never-trained documents: ${held.mean.toFixed(3)} ± ${held.std.toFixed(3)} (min ${held.min.toFixed(3)}, n ${held.count})`
      : '           no never-trained documents in this tenant to compare with',
  );
  console.log(`           verdict: ${proof.verdict}: ${proof.verdict_reason}`);
  console.log(
    `           workers that cleared the stale weights from memory: ${proof.caches_evicted.acknowledged} of ${proof.caches_evicted.workers}`,
  );
  if (proof.verdict !== 'looks_unseen')
    throw new Error(`the deletion's audit is inconclusive: ${proof.verdict_reason}`);
  console.log(
    `\n✓ done: datasets, adapters, the webhook's deliveries and the deletion are all in the API (and the dashboard) at ${baseUrl}`,
  );
}

function savedDemoKey() {
  const file = path.join(ROOT, '.data/demo-tenant.json');
  if (!existsSync(file)) {
    console.error('No TESSERA_API_KEY and no .data/demo-tenant.json: start the platform with `npm start` first.');
    process.exit(1);
  }
  return JSON.parse(readFileSync(file, 'utf8')).apiKey;
}

function sampleLines(name) {
  return readFileSync(path.join(ROOT, 'infra/demo/datasets', `${name}.jsonl`), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
}

async function ensureGroups(names) {
  const existing = (
    await listAll((after) => tessera.GET('/v1/groups', { params: { query: { after, limit: MAX_PAGE_SIZE } } }))
  ).map((group) => group.name);
  for (const name of names.filter((n) => !existing.includes(n)))
    await unwrap(tessera.POST('/v1/groups', { body: { name } }));
  console.log(`  access groups: ${names.join(', ')}`);
}

async function uploadDataset(name, lines) {
  const dataset = await unwrap(tessera.POST('/v1/datasets', { body: { name, format: 'text' } }));
  // JSONL, not JSON: the body is sent as is.
  const ndjson = lines.map((line) => JSON.stringify(line)).join('\n');
  const uploaded = await unwrap(
    tessera.PUT('/v1/datasets/{dataset_id}/content', {
      params: { path: { dataset_id: dataset.id } },
      body: ndjson,
      headers: { 'content-type': 'application/x-ndjson' },
      bodySerializer: (body) => body,
    }),
  );
  console.log(
    `  ${uploaded.id} ${name}: ${uploaded.record_count} lines, ${uploaded.document_count} documents, ${uploaded.token_count} tokens, ${uploaded.access_group_ids.length} access group(s)`,
  );
  return uploaded;
}

async function fineTune(adapterName, datasetId) {
  const job = await unwrap(
    tessera.POST('/v1/fine-tunes', {
      body: {
        base_model: 'tessera-demo',
        dataset_id: datasetId,
        adapter_name: adapterName,
        hyperparameters: HYPERPARAMETERS,
        validation_split: 0.1,
      },
    }),
  );
  console.log(
    `  ${job.id} → adapter ${adapterName}, ${HYPERPARAMETERS.max_steps} steps of ${HYPERPARAMETERS.batch_size}`,
  );
  // The job's events as server-sent events; the stream ends with the job.
  const { data: stream } = await tessera.GET('/v1/fine-tunes/{job_id}/events', {
    params: { path: { job_id: job.id } },
    headers: { accept: 'text/event-stream' },
    parseAs: 'stream',
  });
  for await (const message of serverSentEvents(stream)) {
    const data = JSON.parse(message.data);
    if (message.event === 'metric' && (data.data.step % 10 === 0 || data.data.step === data.data.total_steps)) {
      const m = data.data;
      console.log(
        `    step ${String(m.step).padStart(3)}/${m.total_steps}  loss ${m.loss.toFixed(3)}  ${Math.round(m.tokens_per_second)} tokens/s`,
      );
    } else if (message.event === 'status') console.log(`    ${data.message}`);
    else if (message.event === 'end' && data.status !== 'succeeded')
      throw new Error(`fine-tune ${job.id} ended ${data.status}`);
  }
  const done = await unwrap(tessera.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: job.id } } }));
  if (done.status !== 'succeeded')
    throw new Error(`fine-tune ${job.id} is ${done.status}: ${done.error?.message ?? 'no error given'}`);
  const m = done.metrics;
  console.log(
    `    validation loss ${m.validation_loss?.toFixed(3)} vs the base model's ${m.base_validation_loss?.toFixed(3)}, ${m.train_tokens} tokens in ${m.seconds.toFixed(1)} s`,
  );
  await unwrap(
    tessera.PATCH('/v1/adapters/{adapter_id}', {
      params: { path: { adapter_id: done.adapter_id } },
      body: { description: DEMO_ADAPTER },
    }),
  );
  // The job is done, so its event is too: the first delivery attempt follows at once.
  await webhookEvent('fine_tune.succeeded', job.id, 60_000);
  console.log(`    webhook fine_tune.succeeded received, signature valid`);
}

/** The webhook of `type` about `id`; if it does not come, what Tessera's delivery log says happened. */
async function webhookEvent(type, id, timeoutMs) {
  try {
    return await receiver.waitFor(type, id, timeoutMs);
  } catch (error) {
    const { data } = await unwrap(
      tessera.GET('/v1/webhooks/{webhook_id}/deliveries', { params: { path: { webhook_id: receiver.endpointId } } }),
    );
    const attempts = data.filter((d) => d.event_type === type).flatMap((d) => d.attempts);
    const last = attempts.at(-1);
    throw new Error(
      `${error.message}; ${last ? `last delivery attempt: ${last.error ?? `HTTP ${last.status_code}`}` : 'no delivery attempted yet (is a worker running?)'}`,
    );
  }
}

async function complete(label, body) {
  const answer = await unwrap(tessera.POST('/v1/completions', { body: { ...GREEDY, ...body } }));
  const trace = answer.routing;
  const adapters = trace.adapters
    .map(
      (a) =>
        `${a.name}@${a.version} ${a.weight.toFixed(2)}${a.score !== undefined ? ` (cosine ${a.score.toFixed(2)})` : ''}`,
    )
    .join(', ');
  console.log(`  ${label} ${JSON.stringify(body.prompt)} → ${JSON.stringify(answer.choices[0].text)}`);
  console.log(`            routing ${trace.mode}/${trace.router}: ${adapters}`);
  if (trace.token_gates) {
    // One column per token read (the demo model's tokens are bytes): the adapter with the larger gate.
    const { tokens, gates } = trace.token_gates;
    const initials = trace.adapters.map((a) => a.name[0]);
    console.log(`            tokens  ${tokens.map((t) => t.replace(/\s/g, ' ')).join('')}`);
    console.log(
      `            gate    ${gates.map((row) => initials[row.indexOf(Math.max(...row))]).join('')}   (${trace.adapters.map((a, i) => `${initials[i]} = ${a.name}`).join(', ')})`,
    );
  }
}

/**
 * A loopback HTTP server for Tessera's webhooks (the local gateway runs with
 * WEBHOOK_ALLOW_PRIVATE=true). It checks each delivery's Standard Webhooks signature and keeps
 * the events; a delivery that fails the check gets a 401, so Tessera would retry it.
 */
async function startWebhookReceiver() {
  const events = [];
  const waiting = new Set();
  const state = { secret: null, url: '', waitFor, close };
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      if (!state.secret || !verifyWebhook(state.secret, request.headers, body)) {
        response.writeHead(401).end();
        return;
      }
      response.writeHead(204).end();
      // webhook-id is the event id, the same on every retry: deliveries are deduplicated by it.
      if (events.some((e) => e.webhookId === request.headers['webhook-id'])) return;
      events.push({ webhookId: request.headers['webhook-id'], ...JSON.parse(body) });
      for (const check of waiting) check();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${server.address().port}/tessera-webhooks`;
  return state;

  /** The event of `type` about the object `id`, whenever it came (perhaps before this call). */
  function waitFor(type, id, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => (waiting.delete(check), reject(new Error(`no ${type} webhook for ${id} within ${timeoutMs / 1000} s`))),
        timeoutMs,
      );
      function check() {
        const event = events.find((e) => e.type === type && e.data.id === id);
        if (!event) return;
        clearTimeout(timer);
        waiting.delete(check);
        resolve(event);
      }
      waiting.add(check);
      check();
    });
  }

  function close() {
    return new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  }
}

/** An error in words: for the API's problem details, its title, detail, field errors and request id. */
function describe(error) {
  if (!(error instanceof TesseraProblemError)) return error instanceof Error ? error.message : String(error);
  const fields = error.fieldErrors.map((f) => `\n    ${f.field}: ${f.message}`).join('');
  return `the API answered ${error.message} (${error.type}, request ${error.requestId ?? 'unknown'})${fields}`;
}
