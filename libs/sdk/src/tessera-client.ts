import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './generated/schema.js';
import { TesseraProblemError } from './problem-error.js';

export interface TesseraClientOptions {
  /** Where the gateway listens, e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  /** A tenant API key (tsk_…) or the platform admin key. */
  apiKey: string;
  /** Give every POST an Idempotency-Key unless the call sets one (default true). */
  idempotencyKeys?: boolean;
  fetch?: typeof globalThis.fetch;
}

export type TesseraApi = Client<paths>;

/**
 * A typed client of the Tessera API. Every method and body is checked against the
 * gateway's OpenAPI document; a non-2xx answer throws `TesseraProblemError`, so `data`
 * is always there when a call returns (use `unwrap` to get it typed without undefined).
 */
export function createTesseraClient(options: TesseraClientOptions): TesseraApi {
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/$/, ''),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const addIdempotencyKeys = options.idempotencyKeys ?? true;
  const middleware: Middleware = {
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${options.apiKey}`);
      if (addIdempotencyKeys && request.method === 'POST' && !request.headers.has('idempotency-key')) {
        request.headers.set('idempotency-key', crypto.randomUUID());
      }
      return request;
    },
    async onResponse({ response }) {
      if (!response.ok) throw await TesseraProblemError.fromResponse(response);
      return response;
    },
  };
  api.use(middleware);
  return api;
}

/** The `data` of a call that returned: errors were already thrown by the client. */
export async function unwrap<R extends { data?: unknown }>(call: Promise<R>): Promise<NonNullable<R['data']>> {
  const { data } = await call;
  if (data === undefined || data === null) throw new Error('the response had no body');
  return data as NonNullable<R['data']>;
}

/** The largest page a list call may ask for (`limit`), the API's MAX_PAGE_SIZE. */
export const MAX_PAGE_SIZE = 100;

type PageCall<Item> = (after: string | undefined) => Promise<{ data?: { data: Item[]; has_more: boolean } }>;

/**
 * Every item of a cursor-paginated list, fetching pages as the loop goes:
 * `for await (const g of paginate((after) => api.GET('/v1/groups', { params: { query: { after } } })))`.
 */
export async function* paginate<Item extends { id: string }>(fetchPage: PageCall<Item>): AsyncGenerator<Item> {
  let after: string | undefined;
  for (;;) {
    const page = await unwrap(fetchPage(after));
    yield* page.data;
    const last = page.data.at(-1);
    if (!page.has_more || !last) return;
    after = last.id;
  }
}

/** Every item of a cursor-paginated list in one array; ask for `limit: MAX_PAGE_SIZE` to make the fewest calls. */
export async function listAll<Item extends { id: string }>(fetchPage: PageCall<Item>): Promise<Item[]> {
  const items: Item[] = [];
  for await (const item of paginate(fetchPage)) items.push(item);
  return items;
}
