import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Database, isDatabaseOutage } from '@tessera/db';
import type { Redis } from 'ioredis';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { REDIS } from '../common/redis.provider.js';

/** One usage row as the request path hands it over; its id and time are fixed then, so a replay writes the same row. */
export interface UsageEntry {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  baseModelId: string | null;
  adapterId: string | null;
  adapterVersionId: string | null;
  promptTokens: number;
  completionTokens: number;
  requestId: string;
  createdAt: string;
}

const GROUP = 'usage-writers';
const BATCH = 500;
const BLOCK_MS = 1_000;
/** An entry read by a writer that has not acknowledged it for this long is taken over: its writer died. */
const CLAIM_AFTER_MS = 30_000;
/** Batches a usage read writes before it reads, at most. */
const FLUSH_BATCHES = 4;

// A pending entry deleted meanwhile comes back with null fields.
type StreamEntries = [id: string, fields: string[] | null][];

/**
 * Usage records leave the request path as one Redis stream append (XADD) and reach Postgres
 * in batches, one `createMany` per tenant, written by every gateway as a consumer group. An
 * entry is acknowledged only after its rows commit; one whose writer died unacknowledged is
 * claimed by another after CLAIM_AFTER_MS and written again — rows keep the entry's id, so a
 * replay adds nothing twice.
 */
@Injectable()
export class UsageLedger implements OnModuleDestroy {
  private readonly logger = new Logger(UsageLedger.name);
  private readonly stream: string;
  private readonly consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private reader: Redis | null = null;
  private groupReady: Promise<void> | null = null;
  private stopped = false;
  /** The background writer's batch in flight, which a flush waits for. */
  private writing: Promise<void> | null = null;
  /** Tests shorten it. */
  claimAfterMs = CLAIM_AFTER_MS;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) config: Pick<GatewayConfig, 'QUEUE_PREFIX'>,
    private readonly database: Database,
  ) {
    this.stream = `${config.QUEUE_PREFIX}:usage`;
  }

  /** Durable in Redis once this resolves; Postgres follows within about a second. */
  async append(entry: UsageEntry): Promise<void> {
    this.start();
    await this.redis.xadd(this.stream, '*', 'entry', JSON.stringify(entry));
  }

  /** Starts the background writer: at boot (main.ts) and on first use, never at build (openapi.json must not need Redis). */
  start(): void {
    if (this.reader) return;
    this.reader = this.redis.duplicate();
    this.reader.on('error', () => undefined); // the request path's own connection reports outages
    void this.run(this.reader);
  }

  /** Writes what is waiting now, so a usage read sees the requests that ended before it. */
  async flush(): Promise<void> {
    // Bounded: under steady traffic the stream never runs dry, and a read must not wait on all of it.
    for (let batches = 0; batches < FLUSH_BATCHES; batches++) {
      const entries = await this.read(this.redis, '>', 0).catch((error: unknown) => {
        if (error instanceof Error && error.message.startsWith('NOGROUP')) this.groupReady = null;
        throw error;
      });
      if (entries.length === 0) break;
      await this.write(entries);
    }
    await this.writing?.catch(() => undefined);
  }

  onModuleDestroy(): void {
    this.stopped = true;
    this.reader?.disconnect();
  }

  private async run(reader: Redis): Promise<void> {
    let lastClaim = 0;
    while (!this.stopped) {
      try {
        // Our own unacknowledged entries first (a write that failed), then other writers' stale ones.
        let entries = await this.read(reader, '0', 0);
        if (entries.length === 0 && Date.now() - lastClaim > this.claimAfterMs / 3) {
          lastClaim = Date.now();
          entries = await this.claimStale(reader);
        }
        if (entries.length === 0) entries = await this.read(reader, '>', BLOCK_MS);
        if (entries.length > 0) {
          this.writing = this.write(entries);
          await this.writing.finally(() => (this.writing = null));
        }
      } catch (error) {
        if (this.stopped) return;
        // Redis restarted empty: the group went with the stream; make it again.
        if (error instanceof Error && error.message.startsWith('NOGROUP')) this.groupReady = null;
        this.logger.warn(`usage writer: ${String(error)}; retrying in 1 s`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  private async read(connection: Redis, from: '0' | '>', blockMs: number): Promise<StreamEntries> {
    await this.ensureGroup();
    const args = ['GROUP', GROUP, this.consumer, 'COUNT', BATCH] as const;
    const reply = (
      blockMs > 0
        ? await connection.xreadgroup(...args, 'BLOCK', blockMs, 'STREAMS', this.stream, from)
        : await connection.xreadgroup(...args, 'STREAMS', this.stream, from)
    ) as [string, StreamEntries][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async claimStale(connection: Redis): Promise<StreamEntries> {
    const [, entries] = (await connection.xautoclaim(
      this.stream,
      GROUP,
      this.consumer,
      this.claimAfterMs,
      '0-0',
      'COUNT',
      BATCH,
    )) as [string, StreamEntries];
    return entries;
  }

  private ensureGroup(): Promise<void> {
    // From the stream's start ('0'), so entries appended before any writer existed are written too.
    this.groupReady ??= this.redis
      .xgroup('CREATE', this.stream, GROUP, '0', 'MKSTREAM')
      .then(
        () => undefined,
        (error: Error) => {
          if (!/BUSYGROUP/.test(error.message)) throw error;
        },
      )
      .catch((error: unknown) => {
        this.groupReady = null;
        throw error;
      });
    return this.groupReady;
  }

  /** Writes each tenant's entries in one statement, then acknowledges what committed (or can never commit). */
  private async write(entries: StreamEntries): Promise<void> {
    const byTenant = new Map<string, { ids: string[]; rows: UsageEntry[] }>();
    const settled: string[] = [];
    for (const [id, fields] of entries) {
      const entry = parseEntry(fields);
      if (!entry) {
        this.logger.error(`usage entry ${id} is not a usage record; dropped`);
        settled.push(id);
        continue;
      }
      const batch = byTenant.get(entry.tenantId) ?? { ids: [], rows: [] };
      batch.ids.push(id);
      batch.rows.push(entry);
      byTenant.set(entry.tenantId, batch);
    }
    let outage: unknown = null;
    for (const [tenantId, batch] of byTenant) {
      // One outage is enough to know: the rest stay pending for the retry instead of each waiting out a timeout.
      if (outage) break;
      try {
        await this.database.withTenant({ tenantId }, (tx) =>
          tx.usageRecord.createMany({
            data: batch.rows.map((row) => ({ ...row, createdAt: new Date(row.createdAt) })),
            skipDuplicates: true,
          }),
        );
        settled.push(...batch.ids);
      } catch (error) {
        // An outage or a lost race (deadlock, serialization) leaves the entries pending for the
        // next try; anything else would fail forever.
        if (isDatabaseOutage(error) || isTransient(error)) outage = error;
        else {
          this.logger.error(`usage of tenant ${tenantId} could not be written and is dropped: ${String(error)}`);
          settled.push(...batch.ids);
        }
      }
    }
    if (settled.length > 0) {
      await this.redis.xack(this.stream, GROUP, ...settled);
      await this.redis.xdel(this.stream, ...settled);
    }
    if (outage) throw outage;
  }
}

/** A deadlock or serialization failure: the same write succeeds when tried again. */
function isTransient(error: unknown): boolean {
  const text = String((error as { code?: unknown })?.code ?? '') + ' ' + String((error as Error)?.message ?? '');
  return /P2034|40001|40P01/.test(text);
}

function parseEntry(fields: string[] | null): UsageEntry | null {
  if (!fields) return null;
  const json = fields[fields.indexOf('entry') + 1];
  try {
    const entry = JSON.parse(json ?? '') as UsageEntry;
    return typeof entry.id === 'string' && typeof entry.tenantId === 'string' ? entry : null;
  } catch {
    return null;
  }
}
