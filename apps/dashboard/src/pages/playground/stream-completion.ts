import type { Schemas, TesseraApi } from '@tessera/sdk';
import { readSseData } from './read-sse.js';

/**
 * Token counts of a completion. Written out rather than `Schemas['Usage']`: that name in the
 * OpenAPI document now also names the tenant usage report, so it cannot be trusted here.
 */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One event of `POST /v1/completions` with `stream: true`: OpenAI's chunk plus Tessera's trace. */
export interface CompletionChunk {
  choices: Array<{ text: string; finish_reason: 'stop' | 'length' | null }>;
  /** On the first chunk (the adapters chosen) and the last (with per-token gates when asked). */
  routing?: Schemas['RoutingTrace'];
  /** The chunk after the last, with `stream_options.include_usage`. */
  usage?: TokenUsage;
  /** A failure after the stream began: headers were out, so it travels as an event. */
  error?: { message: string; type: string };
}

export class CompletionStreamError extends Error {
  constructor(readonly type: string, message: string) {
    super(message);
    this.name = 'CompletionStreamError';
  }
}

/** Streams a completion's chunks as they arrive; a problem before the stream starts throws TesseraProblemError. */
export async function* streamCompletion(api: TesseraApi, request: Schemas['CompletionRequest'], signal?: AbortSignal): AsyncGenerator<CompletionChunk> {
  const { data } = await api.POST('/v1/completions', {
    body: { ...request, stream: true, stream_options: { include_usage: true } },
    parseAs: 'stream',
    headers: { accept: 'text/event-stream' },
    ...(signal ? { signal } : {}),
  });
  if (!data) throw new Error('the completion stream had no body');
  for await (const payload of readSseData(data)) {
    const chunk = JSON.parse(payload) as CompletionChunk;
    if (chunk.error) throw new CompletionStreamError(chunk.error.type, chunk.error.message);
    yield chunk;
  }
}
