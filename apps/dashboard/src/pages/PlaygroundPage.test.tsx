import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import { renderWithApi, type RecordedRequest } from '../testing/render-with-api.js';
import { PlaygroundPage } from './PlaygroundPage.js';
import { servedComposition } from './playground/completion-request.js';

const model = (id: string, kind: 'base_model' | 'adapter' | 'composition') => ({
  id,
  object: 'model',
  created: 0,
  owned_by: 'tenant',
  tessera: { kind, base_model: 'tessera-demo' },
});
const MODELS = {
  object: 'list',
  data: [
    model('tessera-demo', 'base_model'),
    model('recipes', 'adapter'),
    model('weather', 'adapter'),
    model('kitchen-gate', 'composition'),
  ],
};
const COMPOSITIONS = {
  data: [
    {
      id: 'cmp_1',
      object: 'composition',
      name: 'kitchen-gate',
      version: 1,
      method: 'learned_gate',
      status: 'ready',
      base_model_id: 'bm_1',
      members: [],
      params: {},
      access_group_id: null,
      job_id: null,
      error: null,
      created_at: '',
      updated_at: '',
    },
  ],
  has_more: false,
};

const head = { id: 'cmpl-1', object: 'text_completion', created: 0, model: 'tessera-demo' };
const chunk = (text: string, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ ...head, choices: [{ index: 0, text, finish_reason: null, logprobs: null }], ...extra })}\n\n`;
const trace = (withGates: boolean) => ({
  mode: 'token',
  router: 'arrow',
  adapters: [
    { name: 'recipes', version: 1, weight: 0.7 },
    { name: 'weather', version: 1, weight: 0.3 },
  ],
  ...(withGates
    ? {
        token_gates: {
          tokens: ['m', 'i', 'x', ' 2'],
          gates: [
            [0.9, 0.1],
            [0.8, 0.2],
            [0.6, 0.4],
            [0.5, 0.5],
          ],
        },
      }
    : {}),
});
/** What the gateway streams for one completion: routing first, text pieces, the end with gates, usage, [DONE]. */
const sseEvents = [
  chunk('', { routing: trace(false) }),
  chunk(' 2'),
  chunk(' cups'),
  `data: ${JSON.stringify({ ...head, choices: [{ index: 0, text: '', finish_reason: 'length', logprobs: null }], routing: trace(true) })}\n\n`,
  `data: ${JSON.stringify({ ...head, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } })}\n\n`,
  'data: [DONE]\n\n',
];
const sse = (body: string) => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });

function renderPlayground(
  completions: (request: RecordedRequest) => Response | Promise<Response> = () => sse(sseEvents.join('')),
) {
  return renderWithApi(<PlaygroundPage />, {
    'GET /v1/models': MODELS,
    'GET /v1/compositions': COMPOSITIONS,
    'POST /v1/completions': completions,
  });
}

const completionBodies = (requests: RecordedRequest[]) =>
  requests
    .filter((r) => r.method === 'POST' && r.path === '/v1/completions')
    .map((r) => JSON.parse(r.body) as Record<string, unknown>);

async function runAndWait(requests: RecordedRequest[], count: number) {
  fireEvent.click(screen.getByRole('button', { name: 'Run' }));
  await waitFor(() => expect(completionBodies(requests)).toHaveLength(count));
  // The run is over when Run is offered again.
  await waitFor(() => expect(screen.getByRole('button', { name: 'Run' }).hasAttribute('disabled')).toBe(false));
  return completionBodies(requests).at(-1)!;
}

test('each routing mode sends its own routing object', async () => {
  const { requests } = renderPlayground();
  await screen.findByRole('option', { name: 'tessera-demo' });
  fireEvent.change(screen.getByLabelText('Prompt'), { target: { value: 'mix' } });
  fireEvent.change(screen.getByLabelText('Max tokens'), { target: { value: '8' } });
  const mode = (value: string) => fireEvent.change(screen.getByLabelText('Routing mode'), { target: { value } });

  let body = await runAndWait(requests, 1);
  expect(body).toEqual({
    model: 'tessera-demo',
    prompt: 'mix',
    max_tokens: 8,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });

  mode('adapter');
  fireEvent.change(screen.getByLabelText('Adapter'), { target: { value: 'weather' } });
  body = await runAndWait(requests, 2);
  expect(body.routing).toEqual({ mode: 'adapter', adapters: [{ name: 'weather' }] });

  mode('mixture');
  expect(screen.getByRole('button', { name: 'Run' }).hasAttribute('disabled')).toBe(true);
  fireEvent.change(screen.getByLabelText('Weight of recipes'), { target: { value: '0.7' } });
  fireEvent.change(screen.getByLabelText('Weight of weather'), { target: { value: '0.3' } });
  body = await runAndWait(requests, 3);
  expect(body.routing).toEqual({
    mode: 'mixture',
    adapters: [
      { name: 'recipes', weight: 0.7 },
      { name: 'weather', weight: 0.3 },
    ],
  });

  mode('token');
  fireEvent.change(screen.getByLabelText('Top k'), { target: { value: '1' } });
  body = await runAndWait(requests, 4);
  expect(body.routing).toEqual({ mode: 'token', top_k: 1, return_gates: true });

  mode('auto');
  fireEvent.change(screen.getByLabelText('Router'), { target: { value: 'arrow' } });
  fireEvent.click(screen.getByRole('checkbox', { name: 'weather' }));
  body = await runAndWait(requests, 5);
  expect(body.routing).toEqual({
    mode: 'auto',
    router: 'arrow',
    adapters: [{ name: 'recipes' }],
    top_k: 1,
    return_gates: true,
  });

  // A learned-gate composition runs only in token mode over its own members.
  fireEvent.change(screen.getByLabelText('Model'), { target: { value: 'kitchen-gate' } });
  expect(
    within(screen.getByLabelText('Routing mode'))
      .getAllByRole('option')
      .map((o) => o.textContent),
  ).toEqual(['token']);
  body = await runAndWait(requests, 6);
  expect(body).toMatchObject({ model: 'kitchen-gate', routing: { mode: 'token', return_gates: true } });

  fireEvent.change(screen.getByLabelText('Model'), { target: { value: 'recipes' } });
  body = await runAndWait(requests, 7);
  expect(body).toMatchObject({ model: 'recipes', routing: { mode: 'adapter' } });
});

test('the output grows as the stream arrives, then the routing trace and the gate heatmap show', async () => {
  const encoder = new TextEncoder();
  let push: ((text: string | null) => void) | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      push = (text) => (text === null ? controller.close() : controller.enqueue(encoder.encode(text)));
    },
  });
  renderPlayground(() => new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }));
  await screen.findByRole('option', { name: 'tessera-demo' });
  fireEvent.change(screen.getByLabelText('Prompt'), { target: { value: 'mix' } });
  fireEvent.change(screen.getByLabelText('Routing mode'), { target: { value: 'token' } });
  fireEvent.click(screen.getByRole('button', { name: 'Run' }));
  await waitFor(() => expect(push).toBeDefined());

  const all = sseEvents.join('');
  const firstTwo = sseEvents[0]!.length + sseEvents[1]!.length;
  // Cut mid-event: the parser must wait for the rest of a line.
  push!(all.slice(0, firstTwo + 10));
  const output = screen.getByTestId('completion-output');
  await waitFor(() => expect(output.textContent).toBe(' 2'));
  expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy();
  expect(screen.queryByTestId('gate-heatmap')).toBeNull();

  push!(all.slice(firstTwo + 10));
  push!(null);
  await waitFor(() => expect(output.textContent).toBe(' 2 cups'));
  const heatmap = await screen.findByTestId('gate-heatmap');
  expect(within(heatmap).getAllByRole('cell')).toHaveLength(4 * 2);
  expect(screen.getByRole('region', { name: 'Routing trace' }).textContent).toContain('recipes');
  expect(screen.getByLabelText('recipes weight 0.700')).toBeTruthy();
  expect(screen.getByText(/3 prompt \+ 2 completion tokens/)).toBeTruthy();
});

test('an error event in the stream is shown in words', async () => {
  renderPlayground(() =>
    sse(
      chunk('', { routing: trace(false) }) +
        `data: ${JSON.stringify({ error: { message: 'the inference worker failed', type: 'server_error' } })}\n\n`,
    ),
  );
  await screen.findByRole('option', { name: 'tessera-demo' });
  fireEvent.change(screen.getByLabelText('Prompt'), { target: { value: 'mix' } });
  fireEvent.click(screen.getByRole('button', { name: 'Run' }));
  expect((await screen.findByRole('alert')).textContent).toContain('the inference worker failed');
});

test('a reused composition name is served at its newest version that is not archived', () => {
  const version = (v: number, method: string, status: string) => ({ name: 'mix', version: v, method, status }) as never;
  const served = servedComposition(
    [version(1, 'linear', 'ready'), version(3, 'ties', 'archived'), version(2, 'learned_gate', 'ready')],
    'mix',
  );
  expect(served).toMatchObject({ version: 2, method: 'learned_gate' });
  expect(servedComposition([version(1, 'linear', 'archived')], 'mix')).toBeUndefined();
});
