import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from './redis.provider.js';

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  retryAfterSeconds: number;
}

/**
 * Token bucket per credential, kept in Redis and updated by one Lua script, so every
 * gateway replica draws from the same bucket. Capacity = the per-minute limit (a full
 * minute's burst), refilled continuously; the clock is Redis's, not the replica's.
 */
const TOKEN_BUCKET = `
local capacity = tonumber(ARGV[1])
local per_ms = capacity / 60000
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_ms)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000 + 1000)
return { allowed, math.floor(tokens), wait_ms }
`;

@Injectable()
export class RateLimiter {
  constructor(@Inject(REDIS) private readonly redis: Redis) {
    this.redis.defineCommand('tesseraTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
  }

  async take(credentialId: string, perMinute: number): Promise<RateLimitDecision> {
    const run = (
      this.redis as unknown as { tesseraTokenBucket(key: string, capacity: number): Promise<[number, number, number]> }
    ).tesseraTokenBucket;
    const [allowed, remaining, waitMs] = await run.call(this.redis, `ratelimit:${credentialId}`, perMinute);
    return {
      allowed: allowed === 1,
      limit: perMinute,
      remaining,
      retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
    };
  }
}
