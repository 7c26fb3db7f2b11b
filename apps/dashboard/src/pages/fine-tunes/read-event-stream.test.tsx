import { expect, test } from 'vitest';
import { readEventStream, type ServerSentEvent } from './read-event-stream.js';

test('events split across chunks are read whole, with their id and type, comments skipped', async () => {
  const chunks = ['id: jev_1\nevent: metric\nda', 'ta: {"step":1}\n\n: keep-alive\n\nid: jev_2\r\nevent: status\r\ndata: {"a":', '1}\r\n\r\nevent: end\ndata: {}\n\n'];
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
  const read: ServerSentEvent[] = [];
  for await (const batch of readEventStream(body)) read.push(...batch);
  expect(read).toEqual([
    { event: 'metric', data: '{"step":1}', id: 'jev_1' },
    { event: 'status', data: '{"a":1}', id: 'jev_2' },
    { event: 'end', data: '{}', id: undefined },
  ]);
});
