import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { ApiKeyRecord } from '@tessera/db';
import type { Redis } from 'ioredis';
import { GATEWAY_CONFIG, type GatewayConfig } from '../config/gateway-config.js';
import { REDIS } from './redis.provider.js';

/** Cached keys at most; past it the oldest go (a Map keeps insertion order). */
const MAX_ENTRIES = 10_000;

/**
 * API keys as the auth guard last read them, by the hash of their secret, for API_KEY_CACHE_MS:
 * most requests then authenticate without a database round trip. A change to a tenant's keys or
 * group memberships (revoke, add or remove a member, delete a group) is published on Redis and
 * every gateway drops that tenant's keys at once; while this process is not subscribed (Redis
 * down, still connecting) nothing is cached, so a missed message can never leave a revoked key
 * usable. A read that began before a change is never stored after it (the generation check).
 */
@Injectable()
export class ApiKeyCache implements OnModuleDestroy {
  private readonly logger = new Logger(ApiKeyCache.name);
  private readonly entries = new Map<string, { key: ApiKeyRecord; until: number }>();
  private readonly channel: string;
  private subscriber: Redis | null = null;
  private subscribed = false;
  /** Bumped by every change heard: a read that started under an older one is not kept. */
  private generation = 0;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
  ) {
    this.channel = `${config.QUEUE_PREFIX}:api-keys-changed`;
  }

  /** The key with this secret hash: from the cache when fresh, else `load`ed (and kept if it is a live key). */
  async get(hash: Uint8Array, load: () => Promise<ApiKeyRecord | null>): Promise<ApiKeyRecord | null> {
    if (this.config.API_KEY_CACHE_MS === 0) return load();
    this.subscribe();
    const id = Buffer.from(hash).toString('base64');
    const cached = this.entries.get(id);
    if (cached && cached.until > Date.now() && this.subscribed) return cached.key;
    const generation = this.generation;
    const key = await load();
    // Only live keys are kept: an unknown secret is a database read each time (no cache to flood).
    if (key && !key.revokedAt && this.subscribed && generation === this.generation) {
      this.entries.delete(id);
      this.entries.set(id, { key, until: Date.now() + this.config.API_KEY_CACHE_MS });
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return key;
  }

  /** Tells every gateway (this one at once) that a tenant's keys or memberships changed. Call after the change commits. */
  async changed(tenantId: string): Promise<void> {
    this.forget(tenantId);
    await this.redis.publish(this.channel, tenantId).catch((error: unknown) => {
      // The others still drop it within API_KEY_CACHE_MS; say so rather than fail the change.
      this.logger.warn(`could not announce a key change of ${tenantId}: ${String(error)}`);
    });
  }

  onModuleDestroy(): void {
    this.subscriber?.disconnect();
  }

  private forget(tenantId: string): void {
    this.generation++;
    for (const [id, entry] of this.entries) if (entry.key.tenantId === tenantId) this.entries.delete(id);
  }

  /** Subscribes once, on first use (building the app for openapi.json must not need Redis). */
  private subscribe(): void {
    if (this.subscriber) return;
    const subscriber = this.redis.duplicate();
    this.subscriber = subscriber;
    const lost = () => {
      this.subscribed = false;
      this.entries.clear();
    };
    subscriber.on('error', () => undefined); // the request path's own connection reports outages
    subscriber.on('close', lost);
    subscriber.on('message', (_channel: string, tenantId: string) => this.forget(tenantId));
    // ioredis resubscribes after a reconnect; 'ready' follows, and only then is caching safe again.
    subscriber.on('ready', () => {
      this.subscribed = true;
    });
    subscriber.subscribe(this.channel).then(
      () => (this.subscribed = subscriber.status === 'ready'),
      () => lost(),
    );
  }
}
