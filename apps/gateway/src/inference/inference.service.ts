import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  newId,
  type ChatCompletionRequest,
  type CompletionRequest,
  type ModelDto,
  type RoutingTrace,
} from '@tessera/contracts';
import { Database } from '@tessera/db';
import type { InferEvent, InferJobData } from '@tessera/queue';
import type { Caller } from '../common/caller.js';
import { UsageLedger } from '../usage/usage-ledger.js';
import { ProblemException } from '../common/problem.exception.js';
import { InferenceDispatcher } from './inference-dispatcher.js';
import { routingTrace, usableModels } from './model-resolver.js';
import { RoutingCache } from './routing-cache.js';
import { structuredPlan, type StructuredPlan } from './structured-output.js';

/** A request on its way: the routing the worker chose, then its text as it is made. */
export interface InferenceRun {
  id: string;
  created: number;
  model: string;
  routing: RoutingTrace;
  promptTokens: number;
  /** How many choices, and whether their JSON is a tool call. */
  n: number;
  plan: StructuredPlan;
  /** Each choice's text pieces as made, then the end: each choice's finish and the routing trace with what only the end knows (per-token gates). */
  pieces: AsyncGenerator<{ index: number; text: string }, RunEnd>;
}

export interface ChoiceEnd {
  finishReason: 'stop' | 'length' | null;
  completionTokens: number;
  /** When asked for: each generated token's text, log-probability and the top alternatives. */
  logprobs?: TokenLogprobs;
}

export interface RunEnd {
  /** By choice index. */
  choices: ChoiceEnd[];
  completionTokens: number;
  routing: RoutingTrace;
}

export type TokenLogprobs = NonNullable<Extract<InferEvent, { type: 'done' }>['logprobs']>;

const OPENAI_DEFAULT_MAX_TOKENS = 16;

/** How many alternatives a request wants per token, or undefined when it wants no log-probabilities. */
function logprobsAsked(body: CompletionRequest | ChatCompletionRequest): number | undefined {
  if ('messages' in body) return body.logprobs ? (body.top_logprobs ?? 0) : undefined;
  return body.logprobs ?? undefined;
}

@Injectable()
export class InferenceService {
  constructor(
    private readonly database: Database,
    private readonly dispatcher: InferenceDispatcher,
    private readonly usage: UsageLedger,
    private readonly routingCache: RoutingCache,
  ) {}

  models(caller: Caller): Promise<ModelDto[]> {
    return this.database.readAsTenant(caller, async (tx) =>
      (await usableModels(tx, caller)).map((m) => ({
        id: m.id,
        object: 'model' as const,
        created: Math.floor(m.created.getTime() / 1000),
        owned_by: m.owner,
        tessera: { kind: m.kind, base_model: m.baseModel },
      })),
    );
  }

  /**
   * Resolves the model and routing (access first), dispatches, and waits for the worker's
   * routing event, so that anything wrong is an error response before a stream begins.
   */
  async start(
    caller: Caller,
    body: CompletionRequest | ChatCompletionRequest,
    idPrefix: 'cmpl' | 'chatcmpl',
  ): Promise<InferenceRun> {
    const resolved = await this.database.readAsTenant(caller, (tx) =>
      this.routingCache.resolve(tx, caller, body.model, body.routing),
    );
    const plan = structuredPlan(body);
    const n = body.n ?? 1;
    const requestId = `${idPrefix}-${randomUUID()}`;
    const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    const job: InferJobData = {
      requestId,
      tenantId: caller.tenantId,
      baseModelId: resolved.baseModel.id,
      input:
        'messages' in body
          ? {
              kind: 'chat',
              messages: body.messages.map(chatMessage),
              ...(body.tools && body.tool_choice !== 'none' ? { tools: body.tools } : {}),
            }
          : { kind: 'text', text: typeof body.prompt === 'string' ? body.prompt : body.prompt[0]! },
      mode: resolved.mode,
      router: resolved.router,
      adapters: resolved.adapters,
      ...(resolved.topK !== undefined ? { topK: resolved.topK } : {}),
      ...(resolved.composition ? { composition: resolved.composition } : {}),
      ...(body.routing?.return_gates ? { returnGates: true } : {}),
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? OPENAI_DEFAULT_MAX_TOKENS,
      temperature: body.temperature ?? 1,
      ...(body.top_p != null ? { topP: body.top_p } : {}),
      ...(body.seed != null ? { seed: body.seed } : {}),
      ...(logprobsAsked(body) !== undefined ? { logprobs: logprobsAsked(body) } : {}),
      ...(body.presence_penalty ? { presencePenalty: body.presence_penalty } : {}),
      ...(body.frequency_penalty ? { frequencyPenalty: body.frequency_penalty } : {}),
      ...(body.logit_bias && Object.keys(body.logit_bias).length
        ? { logitBias: Object.fromEntries(Object.entries(body.logit_bias).map(([id, bias]) => [Number(id), bias])) }
        : {}),
      stop,
      ...(n > 1 ? { n } : {}),
      ...(plan.structured ? { structured: plan.structured } : {}),
    };
    const events = this.dispatcher.dispatch(job);
    const first = await events.next();
    const routing = first.value as InferEvent | undefined;
    if (!routing || routing.type === 'error') {
      await events.return(undefined);
      throw new ProblemException(
        routing?.status === 400 ? 'validation' : 'internal',
        routing?.type === 'error' ? routing.message : 'The inference worker ended the request without an answer',
      );
    }
    if (routing.type !== 'routing') throw new Error(`the worker's first event was ${routing.type}`);
    const used = routing.adapters;
    // One record per request, under the adapter that weighed most in it.
    const top = [...used].sort((a, b) => b.weight - a.weight)[0];
    const usage = this.usage;
    const record = (completionTokens: number) =>
      usage.append({
        id: newId('use'),
        tenantId: caller.tenantId,
        apiKeyId: caller.apiKeyId,
        baseModelId: resolved.baseModel.id,
        adapterId: top?.adapterId ?? null,
        adapterVersionId: top?.versionId ?? null,
        promptTokens: routing.promptTokens,
        completionTokens,
        requestId,
        createdAt: new Date().toISOString(),
      });
    async function* pieces(): AsyncGenerator<{ index: number; text: string }, RunEnd> {
      const choices: ChoiceEnd[] = [];
      let ended = 0;
      let gates: Extract<InferEvent, { type: 'done' }>['tokenGates'];
      for await (const event of events) {
        if (event.type === 'token') yield { index: event.index ?? 0, text: event.text };
        else if (event.type === 'done') {
          choices[event.index ?? 0] = {
            finishReason: event.finishReason === 'cancelled' ? null : event.finishReason,
            completionTokens: event.completionTokens,
            ...(event.logprobs ? { logprobs: event.logprobs } : {}),
          };
          gates ??= event.tokenGates;
          if (++ended < n) continue;
          const completionTokens = choices.reduce((sum, choice) => sum + choice.completionTokens, 0);
          await record(completionTokens);
          return { choices, completionTokens, routing: routingTrace(resolved, used, gates) };
        } else if (event.type === 'error')
          throw new ProblemException(event.status === 400 ? 'validation' : 'internal', event.message);
      }
      throw new ProblemException('internal', 'The inference worker ended the request without finishing it');
    }
    return {
      id: requestId,
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      routing: routingTrace(resolved, used),
      promptTokens: routing.promptTokens,
      n,
      plan,
      pieces: pieces(),
    };
  }
}

/**
 * A message as the worker's chat template reads it: developer as system, text parts joined, an
 * assistant's tool call written as the JSON a forced call generates.
 */
function chatMessage(
  message: ChatCompletionRequest['messages'][number],
): Extract<InferJobData['input'], { kind: 'chat' }>['messages'][number] {
  const text = (content: string | { text: string }[] | null | undefined) =>
    content == null ? '' : typeof content === 'string' ? content : content.map((part) => part.text).join('');
  if (message.role === 'assistant' && message.tool_calls) {
    const calls = message.tool_calls.map((call) =>
      JSON.stringify({ name: call.function.name, arguments: parseArguments(call.function.arguments) }),
    );
    return { role: 'assistant', content: text(message.content) + calls.join('\n') };
  }
  return { role: message.role === 'developer' ? 'system' : message.role, content: text(message.content) };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProblemException('validation', "a tool call's arguments are not JSON", [
      { field: 'body.messages.tool_calls.function.arguments', message: 'not JSON' },
    ]);
  }
}
