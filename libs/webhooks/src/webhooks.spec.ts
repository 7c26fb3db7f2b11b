import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { webhookUrlProblem } from './address-guard.js';
import { signWebhook, verifyWebhook, webhookHeaders } from './standard-webhooks.js';

describe('Standard Webhooks signatures', () => {
  it("match the specification's test vector", () => {
    // From the Standard Webhooks specification's reference tests.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    assert.equal(
      signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('verify what they sign, and nothing changed, stale or signed with another secret', () => {
    const secret = 'whsec_' + Buffer.from('a secret of thirty-two bytes!!!!').toString('base64');
    const body = '{"type":"ping","data":{"id":"wh_1"}}';
    const now = Date.now();
    const headers = webhookHeaders(secret, 'evt_1', body, now);
    assert.equal(verifyWebhook(secret, headers, body, 300, now), true);
    assert.equal(verifyWebhook(secret, headers, body.replace('ping', 'pong'), 300, now), false);
    assert.equal(verifyWebhook(secret, { ...headers, 'webhook-id': 'evt_2' }, body, 300, now), false);
    assert.equal(verifyWebhook(secret, headers, body, 300, now + 301_000), false);
    assert.equal(verifyWebhook('whsec_' + Buffer.from('another').toString('base64'), headers, body, 300, now), false);
    // Several signatures (secret rotation): any valid one passes.
    assert.equal(
      verifyWebhook(
        secret,
        { ...headers, 'webhook-signature': `v1,bm9wZQ== ${headers['webhook-signature']}` },
        body,
        300,
        now,
      ),
      true,
    );
  });
});

describe('webhook URL guard', () => {
  it('refuses private, loopback and link-local addresses unless allowed, and non-http schemes', async () => {
    for (const url of [
      'http://127.0.0.1:8080/hook',
      'http://10.1.2.3/',
      'http://192.168.0.10/',
      'http://172.20.0.1/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://[fd00::1]/',
      'http://localhost/',
    ]) {
      assert.match((await webhookUrlProblem(url, false)) ?? '', /private or loopback/, url);
      assert.equal(await webhookUrlProblem(url, true), null, url);
    }
    assert.equal(await webhookUrlProblem('https://93.184.216.34/hook', false), null);
    assert.match((await webhookUrlProblem('ftp://93.184.216.34/', true)) ?? '', /only http and https/);
  });
});
