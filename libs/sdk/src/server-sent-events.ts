/** One event of a text/event-stream body. `event` is absent for the default type, "message". */
export interface ServerSentEvent {
  event?: string;
  data: string;
  /** The last event ID the stream set (it carries over to later events, as in EventSource). */
  id?: string;
}

/**
 * The events of a text/event-stream body, parsed as the HTML standard's EventSource does
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
 * without reconnecting: the `retry` field is ignored, and an event the stream ends before
 * finishing (no blank line after it) is dropped. Leaving the loop early or aborting `signal`
 * cancels the body, which closes the request; an abort then throws `signal.reason`.
 */
export async function* serverSentEvents(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const cancel = () => void reader.cancel(signal?.reason).catch(() => undefined);
  signal?.addEventListener('abort', cancel, { once: true });
  // TextDecoder drops the leading byte-order mark, as the standard asks.
  const decoder = new TextDecoder();
  const splitLines = lineSplitter();
  let data: string[] = [];
  let eventType = '';
  let lastEventId = '';
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { value, done } = await reader.read();
      signal?.throwIfAborted();
      if (done) return;
      for (const line of splitLines(decoder.decode(value, { stream: true }))) {
        if (line === '') {
          if (data.length > 0)
            yield {
              data: data.join('\n'),
              ...(eventType ? { event: eventType } : {}),
              ...(lastEventId ? { id: lastEventId } : {}),
            };
          data = [];
          eventType = '';
          continue;
        }
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment, e.g. a keep-alive
        const field = colon < 0 ? line : line.slice(0, colon);
        const raw = colon < 0 ? '' : line.slice(colon + 1);
        const value = raw.startsWith(' ') ? raw.slice(1) : raw;
        if (field === 'data') data.push(value);
        else if (field === 'event') eventType = value;
        else if (field === 'id' && !value.includes('\0')) lastEventId = value;
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    // A no-op once the stream has ended; otherwise the consumer stopped early.
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Splits decoded text into complete lines (ended by \r\n, \n or \r), keeping a partial last
 * line for the next call. A chunk that ends in \r ends its line there; a \n opening the next
 * chunk is then the rest of that \r\n, not a blank line.
 */
function lineSplitter(): (text: string) => string[] {
  let partial = '';
  let endedWithCarriageReturn = false;
  return (text) => {
    if (text === '') return [];
    if (endedWithCarriageReturn && text.startsWith('\n')) text = text.slice(1);
    endedWithCarriageReturn = text.endsWith('\r');
    const lines = (partial + text).split(/\r\n|\r|\n/);
    partial = lines.pop() ?? '';
    return lines;
  };
}
