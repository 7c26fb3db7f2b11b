// The platform as the process benchmarks serve through: gateway and worker as processes on
// the bench database, one tenant and its API key; adapters uploaded in the PEFT format and
// completions streamed over the OpenAI-compatible endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareBenchServices } from './bench-services.mjs';

const PLATFORM_KEY = 'bench-platform-admin-key-0123456789';

/**
 * Starts gateway and worker (extra environment for each in `gatewayEnv`, `workerEnv`) and
 * creates a tenant. Returns { url, key, client (the SDK's, as the tenant), appUrl, output(), stop() }.
 */
export async function startPlatform({ gatewayEnv = {}, workerEnv = {} } = {}) {
  const { appUrl, redisUrl } = await prepareBenchServices();
  const { startGatewayProcess } = await import('../../e2e/dist/gateway-process.js');
  const { startWorkerProcess } = await import('../../e2e/dist/worker-process.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-platform-'));
  const env = { DATABASE_URL: appUrl, REDIS_URL: redisUrl, DATA_DIR: dataDir, QUEUE_PREFIX: `bench-${process.pid}` };
  const gateway = await startGatewayProcess({ ...env, PLATFORM_ADMIN_KEY: PLATFORM_KEY, ...gatewayEnv });
  const worker = await startWorkerProcess({ ...env, LOG_LEVEL: 'warn', ...workerEnv }).catch(async (error) => {
    await gateway.stop();
    throw error;
  });
  const output = () => `gateway output:\n${gateway.output()}\nworker output:\n${worker.output()}`;
  const stop = async () => {
    await worker.stop();
    await gateway.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const { createTesseraClient, unwrap } = await import('@tessera/sdk');
    const platform = createTesseraClient({ baseUrl: gateway.url, apiKey: PLATFORM_KEY });
    const key = (await unwrap(platform.POST('/v1/tenants', { body: { name: 'bench' } }))).api_key.secret;
    return {
      url: gateway.url,
      key,
      client: createTesseraClient({ baseUrl: gateway.url, apiKey: key }),
      appUrl,
      output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates adapter `name` on `baseModel` and uploads version 1 from `files` (engine.writePeftAdapter's). Returns the adapter. */
export async function uploadAdapter(platform, { name, baseModel, files }) {
  const { unwrap } = await import('@tessera/sdk');
  const adapter = await unwrap(platform.client.POST('/v1/adapters', { body: { name, base_model: baseModel } }));
  await unwrap(
    platform.client.PUT('/v1/adapters/{adapter_id}/versions/{version}/adapter_config.json', {
      params: { path: { adapter_id: adapter.id, version: 1 } },
      body: files.config,
    }),
  );
  const put = await fetch(`${platform.url}/v1/adapters/${adapter.id}/versions/1/adapter_model.safetensors`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${platform.key}`, 'content-type': 'application/octet-stream' },
    body: files.weights,
  });
  if (put.status !== 200) throw new Error(`upload answered ${put.status}: ${await put.text()}`);
  return adapter;
}

/**
 * POSTs a streaming completion (`body` without `stream`), calling `onPiece()` as each piece of
 * text arrives. Returns { completionTokens, routing } from the usage chunk and the routing trace.
 */
export async function streamCompletion(platform, body, onPiece) {
  const response = await fetch(`${platform.url}/v1/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${platform.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
  });
  if (response.status !== 200) throw new Error(`completion answered ${response.status}: ${await response.text()}`);
  let completionTokens = null;
  let routing = null;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6));
      routing ??= data.routing ?? null;
      if (data.usage) completionTokens = data.usage.completion_tokens;
      else if (data.choices[0]?.text) onPiece();
    }
  }
  if (completionTokens === null) throw new Error('the stream ended without its usage chunk');
  return { completionTokens, routing };
}
