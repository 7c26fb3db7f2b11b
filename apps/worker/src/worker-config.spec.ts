import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadWorkerConfig } from './worker-config.js';

const env = { DATABASE_URL: 'postgresql://app@db/tessera' };

describe('loadWorkerConfig: WEBHOOK_SECRET_KEY', () => {
  it('refuses production without one (the development key is public), and a key that is not 32 bytes', () => {
    assert.throws(() => loadWorkerConfig({ ...env, NODE_ENV: 'production' }), /WEBHOOK_SECRET_KEY is required/);
    assert.throws(() => loadWorkerConfig({ ...env, WEBHOOK_SECRET_KEY: 'CHANGE-ME' }), /must be 32 bytes/);
    const key = Buffer.alloc(32, 7).toString('hex');
    assert.equal(loadWorkerConfig({ ...env, NODE_ENV: 'production', WEBHOOK_SECRET_KEY: key }).WEBHOOK_SECRET_KEY, key);
    assert.equal(loadWorkerConfig(env).WEBHOOK_SECRET_KEY, undefined);
  });
});

describe('loadWorkerConfig: EXECUTION_PROVIDER', () => {
  it('takes cpu, webgpu or cuda (default cpu) and refuses any other, naming the choices', () => {
    assert.equal(loadWorkerConfig(env).EXECUTION_PROVIDER, 'cpu');
    for (const provider of ['cpu', 'webgpu', 'cuda'])
      assert.equal(loadWorkerConfig({ ...env, EXECUTION_PROVIDER: provider }).EXECUTION_PROVIDER, provider);
    assert.throws(
      () => loadWorkerConfig({ ...env, EXECUTION_PROVIDER: 'tpu' }),
      /EXECUTION_PROVIDER.*"cpu"\|"webgpu"\|"cuda"/s,
    );
  });
});
