import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { ApiProvider } from '../api.js';

export interface RecordedRequest {
  method: string;
  path: string;
  search: string;
  headers: Headers;
  body: string;
}

/** A route answer: a JSON body (status 200), or a function that builds the Response. */
export type Answer = unknown | ((request: RecordedRequest) => Response | Promise<Response>);

const BASE = 'http://gateway.test';

/**
 * Renders `ui` signed in, with the SDK's fetch answered from `routes` ("GET /v1/datasets" →
 * answer; a path ending in `/*` matches any rest). Unrouted calls answer 404 problems, so a
 * page calling something unexpected shows it. Every request is recorded for assertions.
 */
export function renderWithApi(ui: ReactNode, routes: Record<string, Answer>) {
  const requests: RecordedRequest[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const recorded: RecordedRequest = {
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
      body: request.body ? await request.text() : '',
    };
    requests.push(recorded);
    const answer = findRoute(routes, `${request.method} ${url.pathname}`);
    if (answer === undefined) return problem(404, `no test route for ${request.method} ${url.pathname}`);
    if (typeof answer === 'function') return (answer as (r: RecordedRequest) => Response | Promise<Response>)(recorded);
    return json(answer);
  };
  sessionStorage.setItem('tessera.apiKey', 'tsk_test');
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const result = render(
    <QueryClientProvider client={queryClient}>
      <ApiProvider baseUrl={BASE} fetch={fetch as typeof globalThis.fetch}>
        {ui}
      </ApiProvider>
    </QueryClientProvider>,
  );
  return { ...result, requests };
}

function findRoute(routes: Record<string, Answer>, key: string): Answer | undefined {
  if (key in routes) return routes[key];
  const prefix = Object.keys(routes).find((route) => route.endsWith('/*') && key.startsWith(route.slice(0, -1)));
  return prefix === undefined ? undefined : routes[prefix];
}

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

export const problem = (status: number, detail: string, errors?: Array<{ field: string; message: string }>) =>
  new Response(
    JSON.stringify({
      type: status === 404 ? '/problems/not-found' : '/problems/validation',
      title: status === 404 ? 'Not found' : 'Invalid request',
      status,
      detail,
      ...(errors ? { errors } : {}),
    }),
    {
      status,
      headers: { 'content-type': 'application/problem+json' },
    },
  );
