import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InferEvent } from '@tessera/queue';
import { EventPublisher } from './event-publisher.js';

describe('EventPublisher', () => {
  it('frames text made while a publish is out into the next message per choice, in order, losing nothing', async () => {
    const sent: InferEvent[] = [];
    let release: () => void = () => undefined;
    // A slow Redis: each publish waits until the test lets it go.
    const publisher = new EventPublisher(async (event) => {
      await new Promise<void>((resolve) => (release = resolve));
      sent.push(event);
    });
    publisher.text(0, 'a'); // goes out alone
    await Promise.resolve();
    for (const piece of ['b', 'c', 'd']) publisher.text(0, piece); // made while 'a' is out
    publisher.text(1, 'x');
    publisher.text(1, 'y');
    publisher.event({ type: 'done', finishReason: 'stop', completionTokens: 4 });
    const done = publisher.flushed();
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      release();
    }
    await done;
    assert.deepEqual(sent, [
      { type: 'token', text: 'a' },
      { type: 'token', text: 'bcd' },
      { type: 'token', text: 'xy', index: 1 },
      { type: 'done', finishReason: 'stop', completionTokens: 4 },
    ]);
  });

  it('with a Redis that keeps up, each piece is its own message', async () => {
    const sent: InferEvent[] = [];
    const publisher = new EventPublisher(async (event) => void sent.push(event));
    for (const piece of ['a', 'b', 'c']) {
      publisher.text(0, piece);
      await publisher.flushed();
    }
    assert.deepEqual(
      sent.map((e) => (e.type === 'token' ? e.text : e.type)),
      ['a', 'b', 'c'],
    );
  });
});
