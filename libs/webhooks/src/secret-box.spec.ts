import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { parseSecretKey, WebhookSecretBox } from './secret-box.js';
import { webhookSecretBox, webhookSecretKeyEnv, webhookSecretKeyInProduction } from './secret-key-env.js';
import { newWebhookSecret } from './standard-webhooks.js';

const box = new WebhookSecretBox(randomBytes(32));
const secret = newWebhookSecret();

/** The stored form with one byte of part `index` (1 iv, 2 ciphertext, 3 tag) flipped. */
function flipped(stored: string, index: number): string {
  const parts = stored.split(':');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0]! ^= 1;
  parts[index] = bytes.toString('base64url');
  return parts.join(':');
}

describe('WebhookSecretBox', () => {
  it('seals to v1:<iv>:<ciphertext>:<tag> without the plaintext, fresh each time, and opens it again', () => {
    const stored = box.seal(secret, 'wh_1');
    assert.match(stored, /^v1:[\w-]{16}:[\w-]+:[\w-]{22}$/);
    assert.ok(!stored.includes(secret.slice(6)));
    assert.notEqual(box.seal(secret, 'wh_1'), stored, 'a fresh IV per seal');
    assert.equal(box.open(stored, 'wh_1'), secret);
  });

  it('refuses a changed IV, ciphertext or tag', () => {
    const stored = box.seal(secret, 'wh_1');
    for (const part of [1, 2, 3]) assert.throws(() => box.open(flipped(stored, part), 'wh_1'), /does not open/);
  });

  it('refuses another key, and a sealed secret moved to another endpoint', () => {
    const stored = box.seal(secret, 'wh_1');
    assert.throws(() => new WebhookSecretBox(randomBytes(32)).open(stored, 'wh_1'), /does not open/);
    assert.throws(() => box.open(stored, 'wh_2'), /does not open/);
  });

  it('reads a legacy plaintext whsec_ as it is, and refuses anything else', () => {
    assert.equal(box.open(secret, 'wh_1'), secret);
    for (const stored of ['', 'v1:', 'v2:a:b:c', 'v1:AAAA:AAAA:AAAA', `${box.seal(secret, 'wh_1')}:extra`, 'plain'])
      assert.throws(() => box.open(stored, 'wh_1'), /malformed/, stored);
  });

  it('takes only a 32-byte key', () => {
    assert.throws(() => new WebhookSecretBox(randomBytes(31)), /32 bytes/);
  });
});

describe('parseSecretKey', () => {
  it('reads 32 bytes as hex, base64 or base64url, and nothing else', () => {
    const key = randomBytes(32);
    for (const text of [key.toString('hex'), key.toString('base64'), key.toString('base64url')])
      assert.deepEqual(parseSecretKey(text), key, text);
    for (const text of [
      '',
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(31).toString('hex'),
      `${key.toString('base64').slice(0, 42)}!=`,
      'CHANGE-ME-32-bytes-base64-or-hex',
    ])
      assert.equal(parseSecretKey(text), null, text);
  });
});

describe('WEBHOOK_SECRET_KEY', () => {
  const config = z.object(webhookSecretKeyEnv).refine(...webhookSecretKeyInProduction);
  const key = randomBytes(32).toString('base64');

  it('is required in production, optional elsewhere (the public development key), and must be 32 bytes', () => {
    assert.equal(config.safeParse({ NODE_ENV: 'production' }).error?.issues[0]?.path[0], 'WEBHOOK_SECRET_KEY');
    assert.ok(config.safeParse({ NODE_ENV: 'production', WEBHOOK_SECRET_KEY: key }).success);
    assert.ok(config.safeParse({}).success);
    assert.ok(config.safeParse({ NODE_ENV: 'development' }).success);
    assert.equal(config.safeParse({ WEBHOOK_SECRET_KEY: 'short' }).success, false);
  });

  it('gives a box with the configured key, which the development key does not open', () => {
    const sealed = webhookSecretBox({ WEBHOOK_SECRET_KEY: key }).seal(secret, 'wh_1');
    assert.equal(new WebhookSecretBox(Buffer.from(key, 'base64')).open(sealed, 'wh_1'), secret);
    assert.throws(() => webhookSecretBox({}).open(sealed, 'wh_1'), /does not open/);
  });
});
