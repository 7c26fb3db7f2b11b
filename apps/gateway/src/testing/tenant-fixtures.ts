import { writePeftAdapter } from '@tessera/engine/formats';

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

async function send(
  gateway: Gateway,
  key: string,
  method: string,
  path: string,
  body: unknown,
  contentType = 'application/json',
) {
  const response = await fetch(gateway.url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
    body: body instanceof Uint8Array || typeof body === 'string' ? body : JSON.stringify(body),
  });
  const answer = (await response.json()) as { id: string };
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
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
    name,
    base_model: 'tessera-demo',
    ...(accessGroupId ? { access_group_id: accessGroupId } : {}),
  });
  const files = peftFiles(576, seed);
  await send(gateway, key, 'PUT', `/v1/adapters/${adapter.id}/versions/1/adapter_config.json`, files.config);
  await send(
    gateway,
    key,
    'PUT',
    `/v1/adapters/${adapter.id}/versions/1/adapter_model.safetensors`,
    files.weights,
    'application/octet-stream',
  );
  return adapter.id;
}

/** A text dataset with its content uploaded: one JSON object a line. */
export async function uploadDataset(gateway: Gateway, key: string, name: string, lines: object[]): Promise<string> {
  const dataset = await send(gateway, key, 'POST', '/v1/datasets', { name, format: 'text' });
  await send(
    gateway,
    key,
    'PUT',
    `/v1/datasets/${dataset.id}/content`,
    lines.map((l) => JSON.stringify(l)).join('\n'),
    'application/x-ndjson',
  );
  return dataset.id;
}
