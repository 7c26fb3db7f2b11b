import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverSentEvents, type ServerSentEvent } from './server-sent-events.js';

/** A body that hands out `chunks` one read at a time, and remembers whether it was cancelled. */
function chunkedBody(chunks: string[], options: { close?: boolean } = {}) {
  const encoder = new TextEncoder();
  const source = { cancelled: false, pulls: 0 };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[source.pulls++];
      if (chunk !== undefined) controller.enqueue(encoder.encode(chunk));
      else if (options.close ?? true) controller.close();
    },
    cancel() {
      source.cancelled = true;
    },
  });
  return { body, source };
}

async function readAll(chunks: string[]): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = [];
  for await (const event of serverSentEvents(chunkedBody(chunks).body)) events.push(event);
  return events;
}

describe('serverSentEvents', () => {
  it('reads events split mid-line and mid-\\r\\n, with \\n, \\r\\n and \\r line ends', async () => {
    const events = await readAll(['event: met', 'ric\ndata: {"step"', ':1}\r', '\n\r', '\ndata: a\rdata: b\r\r']);
    assert.deepEqual(events, [{ event: 'metric', data: '{"step":1}' }, { data: 'a\nb' }]);
  });

  it('joins data lines with \\n, strips one space after the colon, and skips comments', async () => {
    const events = await readAll([': keep-alive\n\ndata:first\ndata:  second\ndata\n: note\ndata: \n\n']);
    assert.deepEqual(events, [{ data: 'first\n second\n\n' }]);
  });

  it('gives the type of each event and the last id set, which carries over', async () => {
    const events = await readAll([
      'id: jev_1\nevent: status\ndata: {}\n\n',
      'data: 2\n\n',
      'id: jev_3\nevent: end\ndata: 3\n\n',
      'event: only-a-type\n\n',
    ]);
    assert.deepEqual(events, [
      { event: 'status', data: '{}', id: 'jev_1' },
      { data: '2', id: 'jev_1' },
      { event: 'end', data: '3', id: 'jev_3' },
    ]);
  });

  it('drops an event the stream ends before its blank line', async () => {
    assert.deepEqual(await readAll(['data: whole\n\ndata: cut off\n']), [{ data: 'whole' }]);
  });

  it('cancels the body when the loop stops early', async () => {
    const { body, source } = chunkedBody(['data: 1\n\n', 'data: 2\n\n'], { close: false });
    for await (const event of serverSentEvents(body)) {
      assert.equal(event.data, '1');
      break;
    }
    assert.equal(source.cancelled, true);
  });

  it('cancels the body and throws the reason when the signal aborts mid-read', async () => {
    const { body, source } = chunkedBody(['data: 1\n\n'], { close: false });
    const abort = new AbortController();
    const read: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of serverSentEvents(body, abort.signal)) {
          read.push(event.data);
          // The next read waits on a stream that sends nothing more.
          setTimeout(() => abort.abort(new Error('stopped')), 5);
        }
      })(),
      { message: 'stopped' },
    );
    assert.deepEqual(read, ['1']);
    assert.equal(source.cancelled, true);
  });
});
