import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface WebhookReceiver {
  url: string;
  /** Every request received, in order. */
  received: { headers: IncomingHttpHeaders; body: string }[];
  /** The first event of `type` (parsed) about `id` if given, waiting up to `timeoutMs` for it. */
  event(type: string, id?: string, timeoutMs?: number): Promise<{ type: string; data: Record<string, unknown> }>;
  /** Runs before each answer, once a request is in (a fault test breaks things mid-call here). */
  beforeAnswer?: () => Promise<void>;
  close(): Promise<void>;
}

/** A loopback HTTP server that answers 204 to everything and keeps what it got (gateway and worker need WEBHOOK_ALLOW_PRIVATE). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push({ headers: request.headers, body });
      void (receiver.beforeAnswer?.() ?? Promise.resolve()).then(() => response.writeHead(204).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/tessera`,
    received,
    event: async (type, id, timeoutMs = 30_000) => {
      for (
        const started = Date.now();
        Date.now() - started < timeoutMs;
        await new Promise((resolve) => setTimeout(resolve, 50))
      ) {
        const found = received
          .map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> })
          .find((e) => e.type === type && (id === undefined || e.data.id === id));
        if (found) return found;
      }
      throw new Error(
        `no ${type} webhook within ${timeoutMs} ms (got ${received.map((r) => JSON.parse(r.body).type).join(', ') || 'none'})`,
      );
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return receiver;
}
