import { Controller, Get, Header, HttpCode, Inject, Logger, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { healthSchema, type Health } from '@tessera/contracts';
import { Database } from '@tessera/db';
import { lastBlobSweep, liveWorkers } from '@tessera/queue';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { HttpMetrics } from '../common/http-metrics.js';
import { Public } from '../common/route-access.decorator.js';
import { REDIS } from '../common/redis.provider.js';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { BlobSweepGauges } from './blob-sweep-gauges.js';
import { registerDatabasePoolGauge } from './database-pool-gauge.js';
import { WorkerGauges } from './worker-gauges.js';

const CHECK_TIMEOUT_MS = 2000;
const logger = new Logger('Readiness');

@ApiTags('health')
@Controller()
export class HealthController {
  private readonly blobSweep: BlobSweepGauges;
  private readonly workers: WorkerGauges;

  constructor(
    private readonly database: Database,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly metrics: HttpMetrics,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.blobSweep = new BlobSweepGauges(metrics.registry);
    this.workers = new WorkerGauges(metrics.registry);
    registerDatabasePoolGauge(metrics.registry, database);
  }

  @Get('healthz')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process serves HTTP' })
  @ApiResponse({ status: 200, description: 'Alive', standardSchema: healthSchema })
  healthz(): Health {
    return { status: 'ok' };
  }

  @Get('readyz')
  @Public()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Readiness: Postgres and Redis answer',
    description:
      'Also lists the live workers: the execution provider each asked for and the one it got (cpu after a fallback), and its device and memory.',
  })
  @ApiResponse({ status: 200, description: 'Ready', standardSchema: healthSchema })
  @ApiResponse({ status: 503, description: 'A dependency is down', standardSchema: healthSchema })
  async readyz(@Res({ passthrough: true }) reply: FastifyReply): Promise<Health> {
    const [postgres, redis] = await Promise.all([
      timedCheck(() => this.database.ping()),
      timedCheck(async () => void (await this.redis.ping())),
    ]);
    const ok = postgres.ok && redis.ok;
    void reply.status(ok ? 200 : 503);
    // Public: what each worker computes on, never which host it is.
    const workers = redis.ok ? await liveWorkers(this.redis, this.config.QUEUE_PREFIX).catch(() => null) : null;
    return {
      status: ok ? 'ok' : 'unavailable',
      checks: { postgres, redis },
      ...(workers
        ? {
            workers: workers.map(({ provider, device, threads }) => ({
              provider: provider.active,
              requested_provider: provider.requested,
              device: device.name,
              device_memory_bytes: device.memoryBytes,
              threads,
            })),
          }
        : {}),
    };
  }

  @Get('metrics')
  @Public()
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metricsText(): Promise<string> {
    // The worker's last blob sweep, read now; a Redis that does not answer leaves the last values shown.
    const sweep = await lastBlobSweep(this.redis, this.config.QUEUE_PREFIX).catch(() => null);
    if (sweep) this.blobSweep.show(sweep);
    const workers = await liveWorkers(this.redis, this.config.QUEUE_PREFIX).catch(() => null);
    if (workers) this.workers.show(workers);
    return this.metrics.registry.metrics();
  }
}

async function timedCheck(check: () => Promise<void>): Promise<{ ok: boolean; latency_ms: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise(
        (_, reject) =>
          (timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)),
      ),
    ]);
    return { ok: true, latency_ms: Math.round(performance.now() - started) };
  } catch (error) {
    // The endpoint is public: the raw error (host, port, driver text) goes to the log only.
    const timedOut = (error as Error).message.startsWith('no answer in');
    if (!timedOut) logger.warn(`readiness check failed: ${(error as Error).message}`);
    return {
      ok: false,
      latency_ms: Math.round(performance.now() - started),
      error: timedOut ? (error as Error).message : 'unreachable',
    };
  } finally {
    clearTimeout(timer);
  }
}
