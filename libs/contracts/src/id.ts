import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/** Prefixes of Tessera's ids (DESIGN.md §3): the prefix tells what an id names. */
export const ID_PREFIXES = {
  tenant: 'ten',
  principal: 'prn',
  apiKey: 'key',
  accessGroup: 'grp',
  membership: 'mem',
  baseModel: 'bm',
  dataset: 'ds',
  document: 'doc',
  adapter: 'ad',
  adapterVersion: 'adv',
  composition: 'cmp',
  job: 'job',
  jobEvent: 'jev',
  checkpoint: 'ckpt',
  deletion: 'del',
  webhookEndpoint: 'wh',
  webhookEvent: 'evt',
  webhookDelivery: 'whd',
  webhookAttempt: 'wha',
  audit: 'aud',
  usage: 'use',
} as const;

export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES];

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ULID_PATTERN = '[0-9A-HJKMNP-TV-Z]{26}';

/**
 * `<prefix>_<ULID>`: 48-bit millisecond time then 80 random bits, Crockford base32.
 * Ids sort by creation time, which is what cursor pagination (`after=<id>`) relies on.
 */
export function newId(prefix: IdPrefix, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += CROCKFORD[random[i]! % 32];
  return `${prefix}_${time}${tail}`;
}

/** Schema of one kind of id, for path parameters and body fields. */
export function idSchema(prefix: IdPrefix) {
  return z.string().regex(new RegExp(`^${prefix}_${ULID_PATTERN}$`), {
    message: `must be an id of the form ${prefix}_<26 base32 characters>`,
  });
}
