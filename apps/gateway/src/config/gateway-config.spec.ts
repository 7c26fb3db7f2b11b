import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadGatewayConfig } from './gateway-config.js';

const env = { DATABASE_URL: 'postgresql://app@db/tessera', PLATFORM_ADMIN_KEY: 'a-platform-key-of-24-chars' };

describe('loadGatewayConfig: WEBHOOK_SECRET_KEY', () => {
  it('refuses production without one (the development key is public), and a key that is not 32 bytes', () => {
    assert.throws(() => loadGatewayConfig({ ...env, NODE_ENV: 'production' }), /WEBHOOK_SECRET_KEY is required/);
    assert.throws(() => loadGatewayConfig({ ...env, WEBHOOK_SECRET_KEY: 'CHANGE-ME' }), /must be 32 bytes/);
    const key = Buffer.alloc(32, 7).toString('base64');
    assert.equal(
      loadGatewayConfig({ ...env, NODE_ENV: 'production', WEBHOOK_SECRET_KEY: key }).WEBHOOK_SECRET_KEY,
      key,
    );
    assert.equal(loadGatewayConfig(env).WEBHOOK_SECRET_KEY, undefined);
  });
});
