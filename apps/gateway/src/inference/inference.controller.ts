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
import type { FastifyReply } from 'fastify';
import { Operation } from '../common/api-docs.decorator.js';
import type { Caller } from '../common/caller.js';
import { CurrentCaller } from '../common/current-caller.decorator.js';
import { ProblemException } from '../common/problem.exception.js';
import { RequireScope } from '../common/route-access.decorator.js';
import { InferenceService, type InferenceRun, type RunEnd, type TokenLogprobs } from './inference.service.js';

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
    if (body.stream) {
      return streamRun(reply, run, body, (text, finishReason, end) => ({
        ...head,
        choices: [{ index: 0, text, finish_reason: finishReason, logprobs: completionLogprobs(end?.logprobs) }],
      }));
    }
    const { text, end } = await collect(run, reply);
    return {
      ...head,
      choices: [{ index: 0, text, finish_reason: end.finishReason, logprobs: completionLogprobs(end.logprobs) }],
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
    if (body.stream) {
      let first = true;
      return streamRun(reply, run, body, (text, finishReason, end) => {
        const delta = first ? { role: 'assistant' as const, content: text } : text ? { content: text } : {};
        first = false;
        return {
          ...head,
          object: 'chat.completion.chunk' as const,
          choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: chatLogprobs(end?.logprobs) }],
        };
      });
    }
    const { text, end } = await collect(run, reply);
    return {
      ...head,
      choices: [
        {
          index: 0,
          message: { role: 'assistant' as const, content: text },
          finish_reason: end.finishReason,
          logprobs: chatLogprobs(end.logprobs),
        },
      ],
      usage: usage(run, end.completionTokens),
      routing: end.routing,
    };
  }
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

/** Whether the client is gone: its connection closed before the answer was written. */
function clientGone(reply: FastifyReply): () => boolean {
  let gone = false;
  reply.raw.on('close', () => (gone = !reply.raw.writableFinished));
  return () => gone;
}

async function collect(run: InferenceRun, reply: FastifyReply) {
  const gone = clientGone(reply);
  let text = '';
  for (;;) {
    const next = await run.pieces.next();
    if (next.done) return { text, end: next.value };
    text += next.value;
    // Nobody to answer: stopping the iteration cancels the request on the worker.
    if (gone()) {
      await run.pieces.return({ finishReason: null, completionTokens: 0, routing: run.routing });
      return { text, end: { finishReason: null, completionTokens: 0, routing: run.routing } };
    }
  }
}

/** Server-sent events: one chunk per piece of text, a last chunk with the finish reason (and usage when asked), then [DONE]. */
async function streamRun(
  reply: FastifyReply,
  run: InferenceRun,
  body: CompletionRequest | ChatCompletionRequest,
  /** A chunk of text; the last (with the finish reason) also gets the end, for what only the end knows (logprobs). */
  chunk: (text: string, finishReason: 'stop' | 'length' | null, end?: RunEnd) => Record<string, unknown>,
): Promise<undefined> {
  const gone = clientGone(reply);
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-request-id': String(reply.request.id),
  });
  const send = (data: unknown) => raw.write(`data: ${JSON.stringify(data)}\n\n`);
  try {
    send({ ...chunk('', null), routing: run.routing });
    for (;;) {
      const next = await run.pieces.next();
      if (gone()) {
        await run.pieces.return({ finishReason: null, completionTokens: 0, routing: run.routing });
        break;
      }
      if (next.done) {
        send({ ...chunk('', next.value.finishReason, next.value), routing: next.value.routing });
        if (body.stream_options?.include_usage)
          send({ ...chunk('', null), choices: [], usage: usage(run, next.value.completionTokens) });
        raw.write('data: [DONE]\n\n');
        break;
      }
      send(chunk(next.value, null));
    }
  } catch (error) {
    // Headers are out: the error travels as an event, as OpenAI's streams carry theirs.
    const message = error instanceof ProblemException ? error.message : 'the inference worker failed';
    send({
      error: {
        message,
        type: error instanceof ProblemException && error.status === 400 ? 'invalid_request_error' : 'server_error',
      },
    });
  }
  raw.end();
  return undefined;
}
