import type { InferEvent } from '@tessera/queue';

/**
 * A request's events, published in order and one at a time. Text made while a publish is out
 * is framed into the next message of its choice, so a worker that outpaces Redis sends fewer,
 * larger frames instead of one message per token; the text a client assembles is the same.
 */
export class EventPublisher {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly unsent = new Map<number, string>();

  constructor(private readonly send: (event: InferEvent) => Promise<unknown>) {}

  /** Text of choice `index`: joins the frame already waiting for that choice, or queues a new one. */
  text(index: number, text: string): void {
    const waiting = this.unsent.get(index);
    this.unsent.set(index, (waiting ?? '') + text);
    if (waiting !== undefined) return;
    this.chain = this.chain.then(() => {
      const frame = this.unsent.get(index)!;
      this.unsent.delete(index);
      return this.send({ type: 'token', text: frame, ...(index ? { index } : {}) });
    });
  }

  /** Any other event, after everything queued before it. */
  event(event: InferEvent): void {
    this.chain = this.chain.then(() => this.send(event));
  }

  /** Settles once every event queued so far is published. */
  flushed(): Promise<unknown> {
    return this.chain;
  }
}
