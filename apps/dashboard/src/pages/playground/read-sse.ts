/**
 * The `data:` payloads of a server-sent event stream, one per event (multi-line data joined
 * by newlines), until `data: [DONE]` or the end of the stream. Other fields (`event:`,
 * `id:`, comments) carry nothing the completions stream uses.
 */
export async function* readSseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r?\n/);
      // The last piece may be half a line; it waits for the next chunk (unless nothing follows).
      buffer = done ? '' : lines.pop()!;
      if (done) lines.push('');
      for (const line of lines) {
        if (line === '') {
          if (data.length === 0) continue;
          const payload = data.join('\n');
          data = [];
          if (payload === '[DONE]') return;
          yield payload;
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
        }
      }
      if (done) return;
    }
  } finally {
    // Stopping early (the reader left the loop) cancels the request: the gateway cancels it on the worker.
    await reader.cancel().catch(() => undefined);
  }
}
