import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { CreatedTenant } from './test-types.js';
import { closeGatewayApp, createGatewayApp } from '../app.factory.js';
import { loadGatewayConfig, type GatewayConfig } from '../config/gateway-config.js';

export const TEST_PLATFORM_KEY = 'test-platform-admin-key-0123456789';

/** Settings of the test run, from what infra/scripts/test.mjs exports. */
export function testConfig(overrides: Partial<Record<keyof GatewayConfig, string>> = {}): GatewayConfig {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`');
  return loadGatewayConfig({
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: '4',
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15',
    PLATFORM_ADMIN_KEY: TEST_PLATFORM_KEY,
    LOG_LEVEL: 'silent',
    PORT: '0',
    ...overrides,
  });
}

export interface TestGateway {
  url: string;
  app: NestFastifyApplication;
  close(): Promise<void>;
}

/** A real gateway on a free loopback port, against the test Postgres and Redis. */
export async function startTestGateway(
  overrides: Partial<Record<keyof GatewayConfig, string>> = {},
): Promise<TestGateway> {
  const app = await createGatewayApp(testConfig(overrides));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  if (!address || typeof address === 'string') throw new Error('gateway did not bind a TCP port');
  return { url: `http://127.0.0.1:${address.port}`, app, close: () => closeGatewayApp(app) };
}

export interface CallResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** One HTTP call with a bearer key; the body is parsed when it is JSON. */
export async function call<T = any>(
  gateway: { url: string },
  method: string,
  path: string,
  options: { key?: string; body?: unknown; rawBody?: string | Uint8Array; headers?: Record<string, string> } = {},
): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | Uint8Array | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(gateway.url + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return {
    status: response.status,
    headers: response.headers,
    body: (type.includes('json') && text ? JSON.parse(text) : text) as T,
  };
}

/** A new tenant through the platform API; its admin key is the first thing a test needs. */
export async function createTenant(gateway: { url: string }, name = `tenant ${Math.random().toString(36).slice(2)}`) {
  const result = await call<CreatedTenant>(gateway, 'POST', '/v1/tenants', { key: TEST_PLATFORM_KEY, body: { name } });
  if (result.status !== 201)
    throw new Error(`creating a tenant answered ${result.status}: ${JSON.stringify(result.body)}`);
  const adminKey = result.body.api_key.secret;
  if (adminKey === null) throw new Error('creating a tenant answered without its key (an idempotent replay?)');
  return { ...result.body, adminKey };
}
