import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';

/** A server-sent events response under way. */
export interface EventStream {
  write(text: string): void;
  /** Whether the client went away before the stream ended. */
  gone(): boolean;
  /**
   * Writes the events `produce` makes, then ends the stream whatever happens (`onError` writes a
   * last event first). Returns what the handler returns: Fastify sends it as it is written (no
   * hijack, so Nest and Fastify agree on who answers).
   */
  run(produce: () => Promise<void>, onError: (error: unknown) => void): PassThrough;
}

/** Whether the client is gone: its connection closed before the answer was written. */
export function clientGone(reply: FastifyReply): () => boolean {
  let gone = false;
  reply.raw.on('close', () => (gone = !reply.raw.writableFinished));
  return () => gone;
}

export function eventStream(reply: FastifyReply): EventStream {
  const gone = clientGone(reply);
  void reply.header('content-type', 'text/event-stream').header('cache-control', 'no-cache');
  const body = new PassThrough();
  return {
    write: (text) => void body.write(text),
    gone,
    run: (produce, onError) => {
      produce()
        .catch(onError)
        .finally(() => body.end());
      return body;
    },
  };
}
