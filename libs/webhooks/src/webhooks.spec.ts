import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:http';
import { addressProblem, postToTarget, resolveWebhookTarget, webhookUrlProblem } from './address-guard.js';
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

describe('webhook egress: only the public Internet, at the address that was checked', () => {
  // Every special-purpose range and encoding that must be refused, with one address of each.
  const refused: [string, string][] = [
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.20.0.1', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'], // IPv4-mapped, judged as the IPv4 it carries
    ['::ffff:7f00:1', 'loopback'], // the same, as the WHATWG parser rewrites it
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'rfc6052'], // NAT64
    ['2002:7f00:1::', '6to4'],
    ['2001::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
  ];
  for (const [address, range] of refused) {
    it(`refuses ${address} (${range})`, async () => {
      assert.match(addressProblem(address) ?? '', new RegExp(`is a ${range} address`));
      const literal = address.includes(':') ? `[${address}]` : address;
      assert.match((await webhookUrlProblem(`http://${literal}:8080/hook`, false)) ?? '', /not a public one/);
      assert.equal(
        await webhookUrlProblem(`http://${literal}/hook`, true),
        null,
        'allowed where private addresses are',
      );
    });
  }

  it('refuses the other spellings of the loopback address the URL parser normalises', async () => {
    for (const url of [
      'http://0x7f.1/',
      'http://2130706433/',
      'http://127.1/',
      'http://0177.0.0.1/',
      'http://[::ffff:127.0.0.1]/',
    ]) {
      assert.match((await webhookUrlProblem(url, false)) ?? '', /loopback/, url);
    }
  });

  it('allows public unicast addresses, and refuses what is not http(s) or not a URL', async () => {
    assert.equal(addressProblem('93.184.216.34'), null);
    assert.equal(addressProblem('2606:2800:220:1:248:1893:25c8:1946'), null);
    assert.equal(await webhookUrlProblem('https://93.184.216.34/hook', false), null);
    assert.match((await webhookUrlProblem('ftp://93.184.216.34/', true)) ?? '', /only http and https/);
    assert.equal(await webhookUrlProblem('not a url', true), 'not a URL');
  });

  it('refuses a name when any address it resolves to is not public', async () => {
    const resolve = async () => ['93.184.216.34', '127.0.0.1'];
    assert.match(
      (await webhookUrlProblem('https://mixed.example/hook', false, resolve)) ?? '',
      /mixed\.example resolves to 127\.0\.0\.1, a loopback address, not a public one/,
    );
    assert.match(
      (await webhookUrlProblem('https://nowhere.example/', false, async () =>
        Promise.reject(new Error('ENOTFOUND')),
      )) ?? '',
      /does not resolve/,
    );
  });

  it('connects to the address it checked, resolving once: a rebinding resolver cannot move the delivery', async () => {
    const received: string[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push(`${request.headers.host} ${body}`);
        response.writeHead(202).end('x'.repeat(2000));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      // A name the system resolver does not know: only the pinned address can reach the server.
      let lookups = 0;
      const rebinding = async () => (++lookups === 1 ? ['127.0.0.1'] : ['93.184.216.34']);
      const target = await resolveWebhookTarget(`http://hooks.rebind.test:${port}/in`, true, rebinding);
      assert.ok(!('problem' in target));
      const answer = await postToTarget(
        target,
        '{"a":1}',
        { 'content-type': 'application/json' },
        { timeoutMs: 5000, maxExcerpt: 500 },
      );
      assert.deepEqual(
        [answer.statusCode, answer.excerpt.length, lookups],
        [202, 500, 1],
        'one resolution, the answer kept to 500 bytes',
      );
      assert.deepEqual(received, [`hooks.rebind.test:${port} {"a":1}`], 'the Host header still names the host');
      // Checked, the same first answer is refused before anything is sent.
      lookups = 0;
      assert.match(
        (await webhookUrlProblem(`http://hooks.rebind.test:${port}/in`, false, rebinding)) ?? '',
        /loopback/,
      );
    } finally {
      server.close();
    }
  });
});
