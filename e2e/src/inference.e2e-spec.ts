import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DecoderSession, domainTexts, importHfCheckpoint, type Domain } from '@tessera/engine';
import { createTesseraClient, shownSecret, unwrap, type TesseraApi } from '@tessera/sdk';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const PLATFORM_KEY = 'e2e-platform-admin-key-0123456789';

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

/** What a routing trace names, in order. */
type Trace = {
  mode: string;
  router: string;
  composition?: { name: string; method: string };
  adapters: { name: string; weight: number }[];
  token_gates?: { tokens: string[]; gates: number[][] };
};
const names = (trace: Trace) => trace.adapters.map((a) => a.name);

describe('inference across processes: OpenAI-compatible endpoints, routing modes, access groups', () => {
  let dataDir: string;
  let gateway: GatewayProcess;
  let worker: WorkerProcess;
  let admin: TesseraApi;
  let adminKey: string;
  /** A key in no group, and one in group "secret" that the code adapter belongs to. */
  let outsider: OpenAI;
  let insider: OpenAI;
  let outsiderKey: string;
  let receiver: WebhookReceiver;

  async function fineTune(domain: Domain) {
    const dataset = await unwrap(admin.POST('/v1/datasets', { body: { name: domain, format: 'text' } }));
    const lines = domainTexts(domain, 80, 1).map((text, i) =>
      JSON.stringify({ text, document_id: `${domain}-${i % 8}` }),
    );
    const uploaded = await fetch(`${gateway.url}/v1/datasets/${dataset.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/x-ndjson' },
      body: lines.join('\n'),
    });
    assert.equal(uploaded.status, 200, await uploaded.text());
    const job = await unwrap(
      admin.POST('/v1/fine-tunes', {
        body: {
          base_model: 'tessera-demo',
          dataset_id: dataset.id,
          adapter_name: domain,
          hyperparameters: {
            max_steps: 16,
            batch_size: 4,
            max_sequence_length: 96,
            learning_rate: 1e-2,
            rank: 8,
            seed: 1,
          },
          validation_split: 0.1,
        },
      }),
    );
    for (let i = 0; ; i++) {
      const current = await unwrap(admin.GET('/v1/fine-tunes/{job_id}', { params: { path: { job_id: job.id } } }));
      if (current.status === 'succeeded') return current.adapter_id!;
      assert.ok(
        current.status !== 'failed' && i < 1200,
        `fine-tune ${domain}: ${current.status} ${JSON.stringify(current.error)}\n${worker.output()}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-infer-'));
    receiver = await startWebhookReceiver();
    const env = {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      DATABASE_URL: requiredEnv('TEST_DATABASE_URL'),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
      DATA_DIR: dataDir,
      QUEUE_PREFIX: `e2e-infer-${process.pid}`,
    };
    gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY });
    worker = await startWorkerProcess({ ...env, WORKER_THREADS: '2', INFER_SLOTS: '8' });
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    adminKey = shownSecret((await unwrap(platform.POST('/v1/tenants', { body: { name: 'Routers' } }))).api_key);
    admin = createTesseraClient({ baseUrl: gateway.url, apiKey: adminKey });
    const secret = await unwrap(admin.POST('/v1/groups', { body: { name: 'secret' } }));
    outsiderKey = shownSecret(
      await unwrap(admin.POST('/v1/api-keys', { body: { name: 'outsider', scopes: ['infer'] } })),
    );
    const insiderKey = await unwrap(admin.POST('/v1/api-keys', { body: { name: 'insider', scopes: ['infer'] } }));
    await unwrap(
      admin.POST('/v1/groups/{group_id}/members', {
        params: { path: { group_id: secret.id } },
        body: { api_key_id: insiderKey.id },
      }),
    );
    for (const domain of ['weather', 'recipes'] as const) await fineTune(domain);
    const code = await fineTune('code');
    await unwrap(
      admin.PATCH('/v1/adapters/{adapter_id}', {
        params: { path: { adapter_id: code } },
        body: { access_group_id: secret.id },
      }),
    );
    outsider = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: outsiderKey, maxRetries: 0 });
    insider = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: shownSecret(insiderKey), maxRetries: 0 });
  });

  after(async () => {
    await worker?.stop();
    assert.equal(await gateway.stop(), 0);
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  // Greedy, so outputs can be compared exactly.
  const greedy = { max_tokens: 24, temperature: 0 } as const;
  const complete = (client: OpenAI, model: string, prompt: string, routing?: Record<string, unknown>) =>
    client.completions.create({
      model,
      prompt,
      ...greedy,
      ...(routing ? { routing } : {}),
    } as OpenAI.CompletionCreateParamsNonStreaming) as unknown as Promise<OpenAI.Completion & { routing: Trace }>;

  it('the openai client: models, completions and chat completions, streaming and not, with usage and the routing trace', async () => {
    const usageBefore = await usageByAdapter();
    const models = (await outsider.models.list()).data.map((m) => m.id).sort();
    assert.deepEqual(models, ['recipes', 'tessera-demo', 'weather']);

    const whole = await complete(outsider, 'weather', 'on monday the sky over oslo is');
    assert.equal(whole.object, 'text_completion');
    assert.ok(whole.choices[0]!.text.length > 0);
    assert.equal(whole.usage!.prompt_tokens, 'on monday the sky over oslo is'.length);
    assert.ok(whole.usage!.completion_tokens > 0 && whole.usage!.completion_tokens <= 24);
    assert.deepEqual(whole.routing, {
      mode: 'adapter',
      router: 'fixed',
      adapters: [{ name: 'weather', version: 1, weight: 1 }],
    });

    const stream = await outsider.completions.create({
      model: 'weather',
      prompt: 'on monday the sky over oslo is',
      ...greedy,
      stream: true,
    });
    let streamed = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      streamed += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(streamed, whole.choices[0]!.text);
    assert.equal(finish, whole.choices[0]!.finish_reason);

    const messages = [{ role: 'user' as const, content: 'mix 2 cups of flour' }];
    const chat = await outsider.chat.completions.create({ model: 'recipes', messages, ...greedy });
    assert.equal(chat.choices[0]!.message.role, 'assistant');
    const chatStream = await outsider.chat.completions.create({
      model: 'recipes',
      messages,
      ...greedy,
      stream: true,
      stream_options: { include_usage: true },
    });
    let chatText = '';
    let chatUsage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of chatStream) {
      chatText += chunk.choices[0]?.delta.content ?? '';
      chatUsage = chunk.usage ?? chatUsage;
    }
    assert.equal(chatText, chat.choices[0]!.message.content);
    assert.deepEqual(chatUsage, chat.usage);

    // Each request is one usage row under its adapter, streamed or not.
    const usage = await usageByAdapter();
    const added = (name: string) => ({
      requests: usage.get(name)!.requests - (usageBefore.get(name)?.requests ?? 0),
      prompt_tokens: usage.get(name)!.prompt_tokens - (usageBefore.get(name)?.prompt_tokens ?? 0),
    });
    assert.deepEqual(added('weather'), { requests: 2, prompt_tokens: 2 * whole.usage!.prompt_tokens });
    assert.deepEqual(added('recipes'), { requests: 2, prompt_tokens: 2 * chat.usage!.prompt_tokens });
    // Streams are answered by Fastify from the stream the handler returns: no second reply.
    assert.doesNotMatch(gateway.output(), /Reply was already sent/);
  });

  it("the openai client's sampling fields: logit_bias, penalties, max_completion_tokens, developer role, text parts", async () => {
    // A bias of 100 forces a token at every step ('A' is byte 65); the penalties apply on top but
    // cannot outweigh it within 6 tokens (100 − 6·(2 + 2) > the model's logits).
    const forced = await outsider.completions.create({
      model: 'weather',
      prompt: 'tomorrow will be',
      temperature: 0,
      max_tokens: 24,
      max_completion_tokens: 6,
      logit_bias: { '65': 100 },
      presence_penalty: 2,
      frequency_penalty: 2,
      user: 'e2e',
    } as OpenAI.CompletionCreateParamsNonStreaming);
    assert.equal(forced.choices[0]!.text, 'AAAAAA');
    assert.equal(forced.usage!.completion_tokens, 6);
    // −100 bans it: greedy output never holds the banned byte.
    const plain = await outsider.completions.create({ model: 'weather', prompt: 'tomorrow will be', ...greedy });
    const space = 32;
    assert.ok(plain.choices[0]!.text.includes(' '), 'the greedy text has a space to ban');
    const banned = await outsider.completions.create({
      model: 'weather',
      prompt: 'tomorrow will be',
      ...greedy,
      logit_bias: { [String(space)]: -100 },
    });
    assert.ok(!banned.choices[0]!.text.includes(' '), banned.choices[0]!.text);

    // developer is read as system, and text parts as their joined text: the same answer as the plain form.
    const plainChat = await outsider.chat.completions.create({
      model: 'recipes',
      messages: [
        { role: 'system', content: 'You cook.' },
        { role: 'user', content: 'mix 2 cups of flour' },
      ],
      ...greedy,
    });
    const partsChat = await outsider.chat.completions.create({
      model: 'recipes',
      messages: [
        { role: 'developer', content: [{ type: 'text', text: 'You cook.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'mix 2 cups ' },
            { type: 'text', text: 'of flour' },
          ],
        },
      ],
      ...greedy,
    });
    assert.equal(partsChat.choices[0]!.message.content, plainChat.choices[0]!.message.content);
    // Other part types are refused by name; so is a bias on a token the model does not have.
    await assert.rejects(
      outsider.chat.completions.create({
        model: 'recipes',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }],
      }),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && /messages/.test(error.message),
    );
    await assert.rejects(
      outsider.completions.create({ model: 'weather', prompt: 'x', logit_bias: { '99999': 5 } }),
      (error: InstanceType<typeof OpenAI.APIError>) =>
        error.status === 400 && /logit_bias names token 99999/.test(error.message),
    );
  });

  it("logprobs: the engine's own log-probabilities in OpenAI's shapes, streamed too", async () => {
    const prompt = 'tomorrow will be';
    const completion = await outsider.completions.create({
      model: 'tessera-demo',
      prompt,
      ...greedy,
      max_tokens: 8,
      logprobs: 3,
    });
    const logprobs = completion.choices[0]!.logprobs!;
    assert.equal(logprobs.tokens!.join(''), completion.choices[0]!.text);
    assert.equal(logprobs.top_logprobs!.length, 8);
    assert.deepEqual(
      logprobs.text_offset,
      logprobs.tokens!.map((_, i) => logprobs.tokens!.slice(0, i).join('').length),
    );
    // The same text scored by the engine in this process: log softmax at each position (bytes are the demo model's tokens).
    const demo = await importHfCheckpoint(path.resolve(import.meta.dirname, '../../models/tessera-demo'));
    const session = await DecoderSession.load(demo.config, demo.weights, { threads: 1 });
    const ids = [...Buffer.from(prompt + completion.choices[0]!.text, 'utf8')];
    const { logits } = await session.forward({
      ids: [ids],
      positions: [ids.map((_, t) => t)],
      attentionMask: [ids.map(() => 1)],
    });
    await session.release();
    const vocab = demo.config.vocabSize;
    const promptLength = Buffer.byteLength(prompt);
    logprobs.token_logprobs!.forEach((logprob, i) => {
      const row = logits.subarray((promptLength - 1 + i) * vocab, (promptLength + i) * vocab);
      const logZ = Math.log(row.reduce((sum, value) => sum + Math.exp(value), 0));
      const expected = row[ids[promptLength + i]!]! - logZ;
      assert.ok(Math.abs(logprob - expected) < 1e-4, `token ${i}: ${logprob} vs ${expected}`);
      const top = Object.values(logprobs.top_logprobs![i]!);
      assert.equal(top.length, 3);
      assert.ok(Math.abs(Math.max(...top) - logprob) < 1e-6, 'greedy took the most likely token');
    });

    // Chat: per token with bytes and alternatives; the stream carries the same in its last chunk.
    const messages = [{ role: 'user' as const, content: 'mix 2 cups of flour' }];
    const chat = await outsider.chat.completions.create({
      model: 'recipes',
      messages,
      ...greedy,
      logprobs: true,
      top_logprobs: 2,
    });
    const content = chat.choices[0]!.logprobs!.content!;
    assert.equal(content.map((t) => t.token).join(''), chat.choices[0]!.message.content);
    for (const token of content) {
      assert.ok(token.logprob <= 0);
      assert.deepEqual(token.bytes, [...Buffer.from(token.token, 'utf8')]);
      assert.equal(token.top_logprobs.length, 2);
    }
    const stream = await outsider.chat.completions.create({
      model: 'recipes',
      messages,
      ...greedy,
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    });
    const streamed: OpenAI.ChatCompletionTokenLogprob[] = [];
    for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    assert.deepEqual(streamed, content);
    await assert.rejects(
      outsider.chat.completions.create({ model: 'recipes', messages, top_logprobs: 2 }),
      (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && error.code === 'validation',
    );
  });

  async function usageByAdapter() {
    const usage = await unwrap(admin.GET('/v1/usage'));
    return new Map(usage.data.map((row) => [row.adapter_name ?? 'base', row]));
  }

  it('structured output: json_schema and json_object by constrained decoding validate in every sample, streamed too', async () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 1, maxLength: 12 },
        high_c: { type: 'integer' },
        sky: { enum: ['clear', 'cloudy', 'rain'] },
        alerts: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 2 },
        note: { type: ['string', 'null'], maxLength: 10 },
      },
      required: ['city', 'high_c', 'sky', 'alerts', 'note'],
      additionalProperties: false,
    };
    const validate = new Ajv({ strict: false }).compile(schema);
    const format = { type: 'json_schema', json_schema: { name: 'forecast', schema, strict: true } } as const;
    // 50 samples at temperature 1: 5 requests of n = 10, each choice its own row and seed (seed + index, so 50 seeds).
    const texts: string[] = [];
    for (let seed = 1; seed <= 50; seed += 10) {
      const answer = await outsider.chat.completions.create({
        model: 'weather',
        messages: [{ role: 'user', content: 'the weather in oslo as JSON' }],
        response_format: format,
        temperature: 1,
        seed,
        n: 10,
        max_tokens: 150,
      });
      assert.equal(answer.choices.length, 10);
      for (const choice of answer.choices) {
        assert.equal(choice.finish_reason, 'stop');
        texts.push(choice.message.content!);
      }
    }
    for (const text of texts) assert.ok(validate(JSON.parse(text)), `${text}: ${JSON.stringify(validate.errors)}`);
    assert.ok(new Set(texts).size >= 40, `the samples differ (${new Set(texts).size} distinct of 50)`);

    // Streamed: the same text as the same request not streamed.
    const request = {
      model: 'weather',
      messages: [{ role: 'user' as const, content: 'the weather in oslo as JSON' }],
      response_format: format,
      temperature: 1,
      seed: 9,
      max_tokens: 150,
    };
    const whole = await outsider.chat.completions.create(request);
    let streamed = '';
    for await (const chunk of await outsider.chat.completions.create({ ...request, stream: true }))
      streamed += chunk.choices[0]?.delta.content ?? '';
    assert.equal(streamed, whole.choices[0]!.message.content);
    assert.ok(validate(JSON.parse(streamed)));

    // json_object on completions: any object, and it parses.
    const object = await outsider.completions.create({
      model: 'weather',
      prompt: 'tomorrow:',
      temperature: 1,
      seed: 4,
      max_tokens: 60,
      response_format: { type: 'json_object' },
    } as OpenAI.CompletionCreateParamsNonStreaming);
    const parsed: unknown = JSON.parse(object.choices[0]!.text);
    assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), object.choices[0]!.text);

    // What cannot be enforced is refused, naming the keyword; so are stop sequences, which would cut the JSON.
    const refused = async (body: object, pattern: RegExp) => {
      await assert.rejects(
        outsider.chat.completions.create({
          model: 'weather',
          messages: [{ role: 'user', content: 'x' }],
          ...body,
        } as OpenAI.ChatCompletionCreateParamsNonStreaming),
        (error: InstanceType<typeof OpenAI.APIError>) => error.status === 400 && pattern.test(error.message),
      );
    };
    const withPattern = { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]{4}$' } } };
    await refused(
      { response_format: { type: 'json_schema', json_schema: { name: 'zip', schema: withPattern } } },
      /#\/properties\/zip: the keyword "pattern" is not supported/,
    );
    await refused(
      { response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'colour' } } } },
      /is not a valid JSON Schema/,
    );
    await refused({ response_format: { type: 'json_object' }, stop: ['}'] }, /stop sequences would cut/);
    await refused(
      { response_format: { type: 'json_schema', json_schema: { name: 'long', schema } }, max_tokens: 5 },
      /max_tokens 5 is below the \d+ tokens of the shortest JSON/,
    );
  });

  it('tools: a forced call (required or named) gives arguments that validate, streamed as one call; tool messages go back in; auto is refused', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'get_forecast',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string', maxLength: 10 }, days: { type: 'integer' } },
            required: ['city', 'days'],
            additionalProperties: false,
          },
        },
      },
      {
        type: 'function' as const,
        function: {
          name: 'get_alerts',
          parameters: { type: 'object', properties: { region: { enum: ['north', 'south'] } } },
        },
      },
    ];
    const validators = new Map(
      tools.map((t) => [t.function.name, new Ajv({ strict: false }).compile(t.function.parameters)]),
    );
    const messages = [{ role: 'user' as const, content: 'will it rain in oslo?' }];
    const forecast = {
      model: 'weather',
      messages,
      tools,
      tool_choice: { type: 'function', function: { name: 'get_forecast' } },
      temperature: 1,
      seed: 2,
      max_tokens: 80,
    } as const;
    const named = await outsider.chat.completions.create(forecast);
    const choice = named.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, 'get_forecast');
    assert.ok(validators.get('get_forecast')!(JSON.parse(call.function.arguments)), call.function.arguments);

    for (let seed = 1; seed <= 4; seed++) {
      const required = await outsider.chat.completions.create({
        model: 'weather',
        messages,
        tools,
        tool_choice: 'required',
        temperature: 1,
        seed,
        max_tokens: 80,
      });
      const made = required.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
      assert.ok(validators.get(made.function.name)!(JSON.parse(made.function.arguments)), made.function.arguments);
    }

    // Streamed: the call arrives whole in one delta, as the openai client accumulates it.
    const stream = await outsider.chat.completions.create({ ...forecast, stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      assert.ok(!chunk.choices[0]?.delta.content, 'no text beside a forced call');
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(
      deltas.map((d) => d.function),
      [call.function],
    );

    // The call and its result go back in as assistant and tool messages.
    const followUp = await outsider.chat.completions.create({
      model: 'weather',
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"rain": true}' },
      ],
      ...greedy,
    });
    assert.notEqual(followUp.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(typeof followUp.choices[0]!.message.content, 'string');

    await assert.rejects(
      outsider.chat.completions.create({ model: 'weather', messages, tools }),
      (error: InstanceType<typeof OpenAI.APIError>) =>
        error.status === 400 && /tool_choice auto is not supported/.test(error.message),
    );
  });

  it('n: several choices batched as rows, choice i as the same request with seed + i; streamed choices match', async () => {
    const body = { model: 'weather', prompt: 'the sky over oslo', temperature: 1, max_tokens: 20 };
    const three = await outsider.completions.create({ ...body, seed: 5, n: 3 });
    assert.deepEqual(
      three.choices.map((c) => c.index),
      [0, 1, 2],
    );
    for (const [i, choice] of three.choices.entries()) {
      const alone = await outsider.completions.create({ ...body, seed: 5 + i });
      assert.equal(choice.text, alone.choices[0]!.text, `choice ${i}`);
    }
    // One token per byte (the demo's tokenizer), end-of-text uncounted: usage sums the choices.
    assert.equal(
      three.usage!.completion_tokens,
      three.choices.reduce((sum, c) => sum + Buffer.byteLength(c.text), 0),
    );
    const streamed = ['', '', ''];
    for await (const chunk of await outsider.completions.create({ ...body, seed: 5, n: 3, stream: true }))
      for (const c of chunk.choices) streamed[c.index] += c.text;
    assert.deepEqual(
      streamed,
      three.choices.map((c) => c.text),
    );
  });

  it("mixture with a single weight of 1 is adapter mode; auto routes a domain's input to its adapter", async () => {
    const prompt = 'the sky over lima is cloudy with';
    const adapter = await complete(outsider, 'weather', prompt);
    const mixture = await complete(outsider, 'tessera-demo', prompt, {
      mode: 'mixture',
      adapters: [{ name: 'weather', weight: 1 }],
    });
    assert.equal(mixture.choices[0]!.text, adapter.choices[0]!.text);
    const blend = await complete(outsider, 'tessera-demo', prompt, {
      mode: 'mixture',
      adapters: [
        { name: 'weather', weight: 0.5 },
        { name: 'recipes', weight: 0.5 },
      ],
    });
    assert.deepEqual(names(blend.routing), ['weather', 'recipes']);
    const auto = await complete(outsider, 'tessera-demo', 'on friday the sky over perth is foggy with 12 degrees', {
      mode: 'auto',
    });
    assert.deepEqual(names(auto.routing), ['weather']);
    const recipe = await complete(outsider, 'tessera-demo', 'mix 3 cups of rice with 2 eggs, stir well', {
      mode: 'auto',
      top_k: 2,
    });
    assert.equal(names(recipe.routing)[0], 'recipes');
    assert.ok(Math.abs(recipe.routing.adapters.reduce((s, a) => s + a.weight, 0) - 1) < 1e-9);
  });

  it("access: an adapter outside the caller's groups is a 404 like a missing one, never routed to, and outputs equal a world without it", async () => {
    const codePrompt = 'let total = 5; for (i = 0; i < 9; i++) { total';
    // The insider's auto routing picks the code adapter for code...
    const inside = await complete(insider, 'tessera-demo', codePrompt, { mode: 'auto' });
    assert.deepEqual(names(inside.routing), ['code']);
    // ...the outsider can neither name it nor be routed to it.
    for (const attempt of [
      () => complete(outsider, 'code', codePrompt),
      () =>
        complete(outsider, 'tessera-demo', codePrompt, { mode: 'mixture', adapters: [{ name: 'code', weight: 1 }] }),
      () =>
        complete(outsider, 'tessera-demo', codePrompt, {
          mode: 'auto',
          adapters: [{ name: 'code' }, { name: 'weather' }],
        }),
      () =>
        complete(outsider, 'tessera-demo', codePrompt, {
          mode: 'token',
          adapters: [{ name: 'code' }, { name: 'weather' }],
        }),
    ]) {
      // OpenAI's error object beside the problem: the client carries its type, code and message.
      await assert.rejects(
        attempt(),
        (error: InstanceType<typeof OpenAI.APIError>) =>
          error.status === 404 &&
          error.type === 'not_found_error' &&
          error.code === 'not-found' &&
          /^404 [A-Z]/.test(error.message),
      );
    }
    const missing = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${outsiderKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-adapter', prompt: 'x' }),
    });
    const forbidden = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${outsiderKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'code', prompt: 'x' }),
    });
    assert.deepEqual([missing.status, forbidden.status], [404, 404]);
    assert.equal(
      ((await forbidden.json()) as { type: string }).type,
      ((await missing.json()) as { type: string }).type,
    );

    const requests: [string, Record<string, unknown> | undefined][] = [
      ['weather', undefined],
      [
        'tessera-demo',
        {
          mode: 'mixture',
          adapters: [
            { name: 'weather', weight: 0.7 },
            { name: 'recipes', weight: 0.3 },
          ],
        },
      ],
      ['tessera-demo', { mode: 'auto' }],
      ['tessera-demo', { mode: 'auto', top_k: 3 }],
      ['tessera-demo', { mode: 'token' }],
      ['tessera-demo', { mode: 'auto', router: 'arrow', top_k: 2 }],
    ];
    // One at a time: each request alone in its batch, so the two worlds run the same arithmetic.
    const run = async (client: OpenAI) => {
      const answers = [];
      for (const [model, routing] of requests) answers.push(await complete(client, model, codePrompt, routing));
      return answers;
    };
    const outsiders = await run(outsider);
    for (const answer of outsiders) assert.ok(!names(answer.routing).includes('code'), JSON.stringify(answer.routing));
    // The world without the secret group's adapters: archived, it is no one's to route to.
    const code = (await unwrap(admin.GET('/v1/adapters', { params: { query: { limit: 100 } } }))).data.find(
      (a) => a.name === 'code',
    )!;
    await unwrap(admin.POST('/v1/adapters/{adapter_id}/archive', { params: { path: { adapter_id: code.id } } }));
    const withoutIt = await run(insider);
    assert.deepEqual(
      withoutIt.map((a) => [a.choices[0]!.text, a.routing]),
      outsiders.map((a) => [a.choices[0]!.text, a.routing]),
    );
  });

  it('token routing: Arrow gates per token in the trace; compositions (cat merge = output-space sum, a learned gate) built by compose jobs', async () => {
    const prompt = 'mix 2 cups of flour with 3 eggs, then the sky over oslo is';
    const arrow = await complete(outsider, 'tessera-demo', prompt, {
      mode: 'token',
      adapters: [{ name: 'weather' }, { name: 'recipes' }],
      top_k: 1,
      return_gates: true,
    });
    assert.equal(arrow.routing.mode, 'token');
    assert.equal(arrow.routing.router, 'arrow');
    assert.deepEqual(names(arrow.routing), ['weather', 'recipes']);
    const gates = arrow.routing.token_gates!;
    // Every token fed through the model has gates: the prompt and each completion token but the
    // last, unless generation ended at end-of-text (not a completion token), which the last one produced.
    const fed = arrow.usage!.completion_tokens - (arrow.choices[0]!.finish_reason === 'length' ? 1 : 0);
    assert.equal(gates.tokens.length, prompt.length + fed);
    assert.equal(gates.tokens.slice(0, prompt.length).join(''), prompt);
    for (const row of gates.gates) assert.ok(Math.abs(row[0]! + row[1]! - 1) < 1e-4, `gates ${row}`);
    const meanWeather = gates.gates.reduce((sum, row) => sum + row[0]!, 0) / gates.gates.length;
    assert.ok(Math.abs(arrow.routing.adapters[0]!.weight - meanWeather) < 1e-6, "an adapter's weight is its mean gate");

    const compose = async (body: Record<string, unknown>) => {
      const created = await fetch(`${gateway.url}/v1/compositions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const { id } = (await created.json()) as { id: string };
      for (let i = 0; ; i++) {
        const current = (await (
          await fetch(`${gateway.url}/v1/compositions/${id}`, { headers: { authorization: `Bearer ${adminKey}` } })
        ).json()) as { status: string; error: string | null };
        if (current.status === 'ready') return;
        assert.ok(
          current.status !== 'failed' && i < 1200,
          `composition ${String(body.name)}: ${current.status} ${current.error}\n${worker.output()}`,
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await unwrap(admin.POST('/v1/webhooks', { body: { url: receiver.url, event_types: ['composition.ready'] } }));
    await compose({
      name: 'weather-recipes-cat',
      method: 'cat',
      members: [
        { adapter: 'weather', weight: 0.6 },
        { adapter: 'recipes', weight: 0.4 },
      ],
    });
    const mixturePrompt = 'on sunday the sky over cairo is';
    const merged = await complete(outsider, 'weather-recipes-cat', mixturePrompt);
    const summed = await complete(outsider, 'tessera-demo', mixturePrompt, {
      mode: 'mixture',
      adapters: [
        { name: 'weather', weight: 0.6 },
        { name: 'recipes', weight: 0.4 },
      ],
    });
    assert.equal(merged.choices[0]!.text, summed.choices[0]!.text);
    assert.equal(merged.routing.router, 'merged');
    const ready = await receiver.event('composition.ready');
    assert.deepEqual([ready.data.name, ready.data.method, ready.data.version], ['weather-recipes-cat', 'cat', 1]);
    assert.deepEqual(merged.routing.composition, { name: 'weather-recipes-cat', version: 1, method: 'cat' });
    assert.ok((await outsider.models.list()).data.some((m) => m.id === 'weather-recipes-cat'));

    const mixed = await unwrap(admin.POST('/v1/datasets', { body: { name: 'mixed', format: 'text' } }));
    const lines = [...domainTexts('weather', 24, 4), ...domainTexts('recipes', 24, 4)].map((text, i) =>
      JSON.stringify({ text, document_id: `m-${i}` }),
    );
    const uploaded = await fetch(`${gateway.url}/v1/datasets/${mixed.id}/content`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/x-ndjson' },
      body: lines.join('\n'),
    });
    assert.equal(uploaded.status, 200, await uploaded.text());
    await compose({
      name: 'weather-recipes-gate',
      method: 'learned_gate',
      members: [{ adapter: 'weather' }, { adapter: 'recipes' }],
      params: { dataset_id: mixed.id, max_steps: 20 },
    });
    const gated = await complete(outsider, 'weather-recipes-gate', prompt, { mode: 'token', return_gates: true });
    assert.equal(gated.routing.router, 'learned_gate');
    assert.deepEqual(names(gated.routing), ['weather', 'recipes'], 'members in the order they were created');
    assert.equal(gated.routing.token_gates!.gates.length, prompt.length + gated.usage!.completion_tokens - 1);
    // A merge runs as a mixture over its own members: asking for another mode is a 400.
    await compose({
      name: 'weather-recipes-ties',
      method: 'ties',
      members: [{ adapter: 'weather' }, { adapter: 'recipes' }],
      params: { density: 0.5 },
    });
    const wrongMode = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${outsiderKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'weather-recipes-ties', prompt: 'x', routing: { mode: 'token' } }),
    });
    assert.equal(wrongMode.status, 400);
  });

  it('a client that disconnects mid-stream cancels its request on the worker', async () => {
    const controller = new AbortController();
    const response = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${outsiderKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'weather',
        prompt: 'the sky',
        // End-of-text (256) banned and the context's worth of tokens asked, so the stream cannot
        // end on its own before the client goes (it did once in CI, at end-of-text).
        max_tokens: 249,
        logit_bias: { '256': -100 },
        temperature: 1,
        seed: 3,
        stream: true,
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    controller.abort();
    for (let i = 0; !worker.output().includes('cancelled by the client'); i++) {
      assert.ok(i < 200, `the worker did not cancel:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.match(worker.output(), /cancelled by the client after \d+ tokens/);
  });

  it('bad requests are problem+json 400s naming the field', async () => {
    const post = (body: unknown) =>
      fetch(`${gateway.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${outsiderKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { detail: string; errors: { field: string }[] },
      }));
    const twice = await post({
      model: 'tessera-demo',
      prompt: 'x',
      routing: { mode: 'token', adapters: [{ name: 'weather' }, { name: 'weather' }] },
    });
    assert.equal(twice.status, 400);
    assert.equal(twice.body.errors[0]!.field, 'routing.adapters');
    const router = await post({ model: 'tessera-demo', prompt: 'x', routing: { mode: 'auto', router: 'svd' } });
    assert.equal(router.status, 400);
    assert.equal(router.body.errors[0]!.field, 'body.routing.router');
    const long = await post({ model: 'tessera-demo', prompt: 'x'.repeat(250), max_tokens: 50 });
    assert.equal(long.status, 400);
    assert.match(long.body.detail, /exceed tessera-demo's context of 256 tokens/);
    const unknownField = await post({ model: 'tessera-demo', prompt: 'x', best_of: 3 });
    assert.equal(unknownField.status, 400);
  });
});
