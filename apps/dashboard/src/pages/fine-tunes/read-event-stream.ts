export interface ServerSentEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * The server-sent events of a response body, a batch per chunk read (so a page that renders
 * per batch renders once for the backlog a stream opens with, not once per event).
 */
export async function* readEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent[]> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += decoder.decode(value, { stream: true }).replaceAll('\r\n', '\n');
      const blocks = buffered.split('\n\n');
      buffered = blocks.pop() ?? '';
      const batch = blocks.map(parseBlock).filter((message): message is ServerSentEvent => message !== null);
      if (batch.length > 0) yield batch;
    }
  } finally {
    reader.releaseLock();
  }
}

function parseBlock(block: string): ServerSentEvent | null {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  return data.length === 0 ? null : { event, data: data.join('\n'), id };
}
