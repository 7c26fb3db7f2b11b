import { Body, Controller, Get, Post, Res } from '@nestjs/common';
import { ApiProduces, ApiTags } from '@nestjs/swagger';
import {
  chatCompletionRequestSchema,
  chatCompletionSchema,
  completionRequestSchema,
  completionSchema,
  modelListSchema,
  type ChatCompletionRequest,
  type CompletionRequest,
} from '@tessera/contracts';
import type { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { clientGone, eventStream } from '../common/event-stream.js';
import { ProblemException } from '../common/problem.exception.js';
import { RequireScope } from '../common/route-access.decorator.js';
import {
  InferenceService,
  type ChoiceEnd,
  type InferenceRun,
  type RunEnd,
  type TokenLogprobs,
} from './inference.service.js';
import { toolCallOf } from './structured-output.js';

/**
 * OpenAI-compatible inference: the `openai` client works against these unmodified. With
 * `stream: true` the answer is server-sent events of OpenAI's chunk objects, ending with
 * `data: [DONE]`; each response also carries Tessera's `routing` trace.
 */
@ApiTags('inference')
@Controller('v1')
export class InferenceController {
  constructor(private readonly inference: InferenceService) {}

  @Get('models')
  @RequireScope('infer')
  @Operation('The models this key can run: ready base models and the adapters its groups allow', {
    status: 200,
    schema: modelListSchema,
  })
  async models(@CurrentCaller() caller: Caller) {
    return { object: 'list' as const, data: await this.inference.models(caller) };
  }

  @Post('completions')
  @RequireScope('infer')
  @ApiProduces('application/json', 'text/event-stream')
  @Operation('Complete a prompt (OpenAI completions), routed as `routing` says', {
    status: 200,
    schema: completionSchema,
  })
  async completions(
    @CurrentCaller() caller: Caller,
    @Body({ schema: completionRequestSchema }) body: CompletionRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const run = await this.inference.start(caller, body, 'cmpl');
    const head = { id: run.id, object: 'text_completion' as const, created: run.created, model: run.model };
    const choice = (index: number, text: string, finishReason: 'stop' | 'length' | null, end?: ChoiceEnd) => ({
      index,
      text,
      finish_reason: finishReason,
      logprobs: completionLogprobs(end?.logprobs),
    });
    if (body.stream) {
      return streamRun(reply, run, body, {
        start: () => ({ ...head, choices: indices(run).map((i) => choice(i, '', null)) }),
        piece: (index, text) => ({ ...head, choices: [choice(index, text, null)] }),
        finish: (index, _text, end) => [{ ...head, choices: [choice(index, '', end.finishReason, end)] }],
      });
    }
    const { texts, end } = await collect(run, reply);
    return {
      ...head,
      choices: end.choices.map((c, index) => choice(index, texts[index] ?? '', c.finishReason, c)),
      usage: usage(run, end.completionTokens),
      routing: end.routing,
    };
  }

  @Post('chat/completions')
  @RequireScope('infer')
  @ApiProduces('application/json', 'text/event-stream')
  @Operation(
    "Answer a conversation (OpenAI chat completions) through the model's chat template, routed as `routing` says",
    { status: 200, schema: chatCompletionSchema },
  )
  async chat(
    @CurrentCaller() caller: Caller,
    @Body({ schema: chatCompletionRequestSchema }) body: ChatCompletionRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const run = await this.inference.start(caller, body, 'chatcmpl');
    const head = { id: run.id, object: 'chat.completion' as const, created: run.created, model: run.model };
    const chunk = (index: number, delta: object, finishReason: ChatFinish, end?: ChoiceEnd) => ({
      ...head,
      object: 'chat.completion.chunk' as const,
      choices: [{ index, delta, finish_reason: finishReason, logprobs: chatLogprobs(end?.logprobs) }],
    });
    if (body.stream) {
      return streamRun(reply, run, body, {
        start: () => ({
          ...head,
          object: 'chat.completion.chunk' as const,
          choices: indices(run).map((index) => ({
            index,
            delta: { role: 'assistant' as const, content: '' },
            finish_reason: null,
            logprobs: null,
          })),
        }),
        // A tool call's JSON is held back and sent whole as the call when it is complete.
        piece: (index, text) => (run.plan.toolCall ? null : chunk(index, { content: text }, null)),
        finish: (index, text, end) => {
          const answer = chatAnswer(run, index, text, end);
          if (!answer.message.tool_calls) return [chunk(index, {}, answer.finishReason, end)];
          const calls = answer.message.tool_calls.map((call, i) => ({ index: i, ...call }));
          return [chunk(index, { tool_calls: calls }, null), chunk(index, {}, answer.finishReason, end)];
        },
      });
    }
    const { texts, end } = await collect(run, reply);
    return {
      ...head,
      choices: end.choices.map((choice, index) => {
        const answer = chatAnswer(run, index, texts[index] ?? '', choice);
        return {
          index,
          message: answer.message,
          finish_reason: answer.finishReason,
          logprobs: chatLogprobs(choice.logprobs),
        };
      }),
      usage: usage(run, end.completionTokens),
      routing: end.routing,
    };
  }
}

type ChatFinish = 'stop' | 'length' | 'tool_calls' | null;

/** A chat choice's message: its text, or, where the request forced a tool call and the JSON is complete, the call. */
function chatAnswer(run: InferenceRun, index: number, text: string, end: ChoiceEnd) {
  if (run.plan.toolCall && end.finishReason === 'stop')
    return {
      message: {
        role: 'assistant' as const,
        content: null,
        refusal: null,
        tool_calls: [toolCallOf(text, `call_${run.id.slice(-24)}_${index}`)],
      },
      finishReason: 'tool_calls' as const,
    };
  return { message: { role: 'assistant' as const, content: text, refusal: null }, finishReason: end.finishReason };
}

function indices(run: InferenceRun): number[] {
  return Array.from({ length: run.n }, (_, index) => index);
}

/** OpenAI's legacy completions shape: parallel arrays, alternatives as token → logprob, offsets into the text. */
function completionLogprobs(logprobs: TokenLogprobs | undefined) {
  if (!logprobs) return null;
  let offset = 0;
  return {
    tokens: logprobs.map((t) => t.token),
    token_logprobs: logprobs.map((t) => t.logprob),
    top_logprobs: logprobs.map((t) => Object.fromEntries(t.top.map((a) => [a.token, a.logprob]))),
    text_offset: logprobs.map((t) => {
      const at = offset;
      offset += t.token.length;
      return at;
    }),
  };
}

/** OpenAI's chat shape: one entry per token with its UTF-8 bytes and its alternatives. */
function chatLogprobs(logprobs: TokenLogprobs | undefined) {
  if (!logprobs) return null;
  const bytes = (token: string) => Array.from(Buffer.from(token, 'utf8'));
  return {
    content: logprobs.map((t) => ({
      token: t.token,
      logprob: t.logprob,
      bytes: bytes(t.token),
      top_logprobs: t.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: bytes(a.token) })),
    })),
    refusal: null,
  };
}

function usage(run: InferenceRun, completionTokens: number) {
  return {
    prompt_tokens: run.promptTokens,
    completion_tokens: completionTokens,
    total_tokens: run.promptTokens + completionTokens,
  };
}

async function collect(run: InferenceRun, reply: FastifyReply) {
  const gone = clientGone(reply);
  const texts: string[] = indices(run).map(() => '');
  for (;;) {
    const next = await run.pieces.next();
    if (next.done) return { texts, end: next.value };
    texts[next.value.index] += next.value.text;
    // Nobody to answer: stopping the iteration cancels the request on the worker.
    if (gone()) {
      const end: RunEnd = { choices: [], completionTokens: 0, routing: run.routing };
      await run.pieces.return(end);
      return { texts, end };
    }
  }
}

/** The chunks of a stream: the first (each choice's start), one per piece of text (null: held back), each choice's last ones. */
interface StreamChunks {
  start: () => Record<string, unknown>;
  piece: (index: number, text: string) => Record<string, unknown> | null;
  finish: (index: number, text: string, end: ChoiceEnd) => Record<string, unknown>[];
}

/**
 * Server-sent events: a first chunk with the routing, one chunk per piece of text, each choice's
 * last chunk with its finish reason (the very last with the routing trace), usage when asked,
 * then [DONE]. Events are written as the worker makes them.
 */
function streamRun(
  reply: FastifyReply,
  run: InferenceRun,
  body: CompletionRequest | ChatCompletionRequest,
  chunks: StreamChunks,
): PassThrough {
  const stream = eventStream(reply);
  const send = (data: unknown) => stream.write(`data: ${JSON.stringify(data)}\n\n`);
  const texts = indices(run).map(() => '');
  return stream.run(
    async () => {
      send({ ...chunks.start(), routing: run.routing });
      for (;;) {
        const next = await run.pieces.next();
        if (stream.gone()) {
          await run.pieces.return({ choices: [], completionTokens: 0, routing: run.routing });
          return;
        }
        if (next.done) {
          const last = next.value.choices.flatMap((end, index) => chunks.finish(index, texts[index]!, end));
          last.forEach((chunk, i) => send(i === last.length - 1 ? { ...chunk, routing: next.value.routing } : chunk));
          if (body.stream_options?.include_usage)
            send({ ...chunks.start(), choices: [], usage: usage(run, next.value.completionTokens) });
          stream.write('data: [DONE]\n\n');
          return;
        }
        texts[next.value.index] += next.value.text;
        const chunk = chunks.piece(next.value.index, next.value.text);
        if (chunk) send(chunk);
      }
    },
    (error) => {
      // Headers are out: the error travels as an event, as OpenAI's streams carry theirs.
      const message = error instanceof ProblemException ? error.message : 'the inference worker failed';
      send({
        error: {
          message,
          type: error instanceof ProblemException && error.status === 400 ? 'invalid_request_error' : 'server_error',
        },
      });
    },
  );
}
