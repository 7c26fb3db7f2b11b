import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import 'reflect-metadata';
import fastifyCompress from '@fastify/compress';
import fastifyStatic from '@fastify/static';
import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Database } from '@tessera/db';
import type { Redis } from 'ioredis';
import { AppModule } from './app.module.js';
import { recordAllowedMethods } from './common/allowed-methods.js';
import { HttpMetrics } from './common/http-metrics.js';
import { parseJsonBody } from './common/json-body.js';
import { sendProblem } from './common/send-problem.util.js';
import {
  COMPOSE_QUEUE,
  TRAIN_QUEUE,
  WEBHOOK_QUEUE,
  type ComposeQueue,
  type TrainQueue,
  type WebhookQueue,
} from './common/queues.provider.js';
import { REDIS } from './common/redis.provider.js';
import { JSONL_CONTENT_TYPES } from './datasets/datasets.controller.js';
import type { GatewayConfig } from './config/gateway-config.js';
import type { FlowProducer } from 'bullmq';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FLOW_PRODUCER } from './common/flow.provider.js';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds the gateway without listening: main.ts listens, the OpenAPI writer only reads
 * routes, and tests drive it over a real port. Logs are JSON lines (pino for requests,
 * Nest's JSON console logger for the framework).
 */
export async function createGatewayApp(config: GatewayConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.BODY_LIMIT_BYTES,
    logger: config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL },
    // A caller's X-Request-Id is kept when it is sane, so ids follow a request across systems.
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : `req_${randomUUID()}`;
    },
    ajv: { customOptions: { allErrors: false } },
    // The router refuses a bad URL or an over-long path segment before any hook runs.
    frameworkErrors: (error: Error, request: FastifyRequest, reply: FastifyReply) => {
      void reply.header('x-request-id', request.id);
      sendProblem(error, request, reply);
    },
  });
  const metrics = new HttpMetrics();
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, metrics), adapter, {
    logger:
      config.LOG_LEVEL === 'silent'
        ? false
        : new ConsoleLogger({ json: true, logLevels: nestLogLevels(config.LOG_LEVEL) }),
    abortOnError: false,
    // Nest would add a form-urlencoded parser, letting a form body reach JSON routes; Fastify's own
    // JSON parser is kept (prototype and constructor poisoning refused), and any other type is a 415.
    bodyParser: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  recordAllowedMethods(fastify);
  // Dataset and adapter uploads stream straight to the blob store: the body is handed over unread.
  fastify.addContentTypeParser([...JSONL_CONTENT_TYPES, 'application/octet-stream'], (_request, payload, done) =>
    done(null, payload),
  );
  fastify.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  // A streamed upload refused before it was read (404, 409, 415): the rest of it is not
  // wanted, so the connection closes instead of waiting for bytes nobody will read.
  fastify.addHook('onSend', async (request, reply) => {
    if (request.body instanceof Readable && !request.body.readableEnded) void reply.header('connection', 'close');
  });
  metrics.install(fastify);
  await app.register(fastifyCompress, COMPRESSION);
  if (config.DASHBOARD_DIR) await serveDashboard(app, config.DASHBOARD_DIR);
  return app;
}

/**
 * Responses of 1 KiB and more in brotli or gzip, as the client accepts. Event streams are left
 * alone (a compressor would hold events back until its buffer fills); brotli at quality 4 costs
 * about what gzip does per byte. The dashboard's files are compressed once, at build time.
 */
const COMPRESSION = {
  threshold: 1024,
  encodings: ['br', 'gzip'] as ('br' | 'gzip')[],
  customTypes: /^(application\/(json|problem\+json|javascript)|text\/(html|css|javascript|plain)|image\/svg\+xml)\b/,
  brotliOptions: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
};

/**
 * The dashboard holds an API key in the page: only its own scripts may run, it talks only to
 * this origin, and no other site may frame it. React's style={…} attributes need inline styles.
 */
const DASHBOARD_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The dashboard's files at / (index.html and its hashed assets). Only the files there at start
 * get routes (no wildcard), so every other path still reaches the API's 404 problem; the
 * dashboard routes by URL hash and needs no fallback.
 */
async function serveDashboard(app: NestFastifyApplication, dir: string): Promise<void> {
  const root = path.resolve(dir);
  if (!existsSync(path.join(root, 'index.html')))
    throw new Error(`DASHBOARD_DIR ${root} has no index.html: build the dashboard first (npm run build)`);
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    // index.html.br / .gz and the assets' beside them, written by the dashboard's build.
    preCompressed: true,
    cacheControl: false,
    setHeaders: (reply, file) => {
      for (const [name, value] of Object.entries(DASHBOARD_HEADERS)) void reply.header(name, value);
      void reply.header(
        'cache-control',
        isHashedAsset(root, file) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
}

/** Vite names what it writes under assets/ by content hash: those never change; index.html does. */
function isHashedAsset(root: string, file: string): boolean {
  return path.relative(root, file).startsWith(`assets${path.sep}`);
}

/** Closes the app and the connections it opened (the providers do not own a lifecycle hook). */
export async function closeGatewayApp(app: NestFastifyApplication): Promise<void> {
  const database = app.get(Database);
  const redis = app.get<Redis>(REDIS);
  const queues = [
    app.get<TrainQueue>(TRAIN_QUEUE),
    app.get<ComposeQueue>(COMPOSE_QUEUE),
    app.get<WebhookQueue>(WEBHOOK_QUEUE),
  ];
  const flows = app.get<FlowProducer>(FLOW_PRODUCER);
  await app.close();
  await Promise.all([...queues.map((q) => q.close()), flows.close()]);
  await database.disconnect();
  redis.disconnect();
}

function nestLogLevels(level: GatewayConfig['LOG_LEVEL']) {
  const order = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] as const;
  const cut = { fatal: 1, error: 2, warn: 3, info: 4, debug: 5, trace: 6, silent: 0 }[level];
  return order.slice(0, cut);
}
