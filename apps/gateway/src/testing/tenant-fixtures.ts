import { writePeftAdapter } from '@tessera/engine/formats';
import { call } from './test-gateway.js';

/** A rank-4 adapter on the demo model's first attention projection (192 → dOut), as PEFT writes it. */
export function peftFiles(dOut = 576, seed = 1) {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31), state / 2 ** 31 - 0.5);
  const factors = new Map([
    [
      'h.0.attn.c_attn',
      { a: Float32Array.from({ length: 192 * 4 }, random), b: Float32Array.from({ length: 4 * dOut }, random) },
    ],
  ]);
  return writePeftAdapter({ rank: 4, alpha: 8, targetModules: ['attn.c_attn'], factors }, 'tessera-demo');
}

type Gateway = { url: string };

/** `call`, for fixtures: a non-2xx answer stops the test's setup, naming it. */
async function send(gateway: Gateway, key: string, method: string, path: string, options: Parameters<typeof call>[3]) {
  const answer = await call<{ id: string }>(gateway, method, path, { key, ...options });
  if (answer.status >= 300)
    throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** An adapter with one ready version uploaded in the PEFT format. */
export async function uploadAdapter(
  gateway: Gateway,
  key: string,
  name: string,
  seed: number,
  accessGroupId?: string,
): Promise<string> {
  const adapter = await send(gateway, key, 'POST', '/v1/adapters', {
    body: { name, base_model: 'tessera-demo', ...(accessGroupId ? { access_group_id: accessGroupId } : {}) },
  });
  const files = peftFiles(576, seed);
  await send(gateway, key, 'PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`, { body: files.config });
  await send(gateway, key, 'PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_model.safetensors`, {
    rawBody: files.weights,
    headers: { 'content-type': 'application/octet-stream' },
  });
  return adapter.id;
}

/** A text dataset with its content uploaded: one JSON object a line. */
export async function uploadDataset(gateway: Gateway, key: string, name: string, lines: object[]): Promise<string> {
  const dataset = await send(gateway, key, 'POST', '/v1/datasets', { body: { name, format: 'text' } });
  await send(gateway, key, 'PUT', `/v1/datasets/${dataset.id}/content`, {
    rawBody: lines.map((l) => JSON.stringify(l)).join('\n'),
    headers: { 'content-type': 'application/x-ndjson' },
  });
  return dataset.id;
}
