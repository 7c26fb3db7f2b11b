import { serverSentEvents, type Schemas, type TesseraApi } from '@tessera/sdk';

/** One event of `POST /v1/completions` with `stream: true`: OpenAI's chunk plus Tessera's trace. */
export interface CompletionChunk {
  choices: Array<{ text: string; finish_reason: 'stop' | 'length' | null }>;
  /** On the first chunk (the adapters chosen) and the last (with per-token gates when asked). */
  routing?: Schemas['RoutingTrace'];
  /** The chunk after the last, with `stream_options.include_usage`. */
  usage?: Schemas['Usage'];
  /** A failure after the stream began: headers were out, so it travels as an event. */
  error?: { message: string; type: string };
}

export class CompletionStreamError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'CompletionStreamError';
  }
}

/** Streams a completion's chunks as they arrive; a problem before the stream starts throws TesseraProblemError. */
export async function* streamCompletion(
  api: TesseraApi,
  request: Schemas['CompletionRequest'],
  signal?: AbortSignal,
): AsyncGenerator<CompletionChunk> {
  const { data } = await api.POST('/v1/completions', {
    body: { ...request, stream: true, stream_options: { include_usage: true } },
    parseAs: 'stream',
    headers: { accept: 'text/event-stream' },
    ...(signal ? { signal } : {}),
  });
  if (!data) throw new Error('the completion stream had no body');
  for await (const event of serverSentEvents(data, signal)) {
    // OpenAI's end marker: the last event, not JSON.
    if (event.data === '[DONE]') return;
    const chunk = JSON.parse(event.data) as CompletionChunk;
    if (chunk.error) throw new CompletionStreamError(chunk.error.type, chunk.error.message);
    yield chunk;
  }
}
