import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundException } from '@nestjs/common';
import { ProblemException } from './problem.exception.js';
import { toProblem } from './to-problem.util.js';

describe('toProblem', () => {
  it('renders our own problems with their fields and headers', () => {
    const error = new ProblemException('rate-limited', 'slow down', undefined, { 'retry-after': '3' });
    const { problem, headers, internal } = toProblem(error, 'req_1', '/v1/groups');
    assert.deepEqual(problem, {
      type: '/problems/rate-limited',
      title: 'Too many requests',
      status: 429,
      detail: 'slow down',
      request_id: 'req_1',
      instance: '/v1/groups',
    });
    assert.deepEqual(headers, { 'retry-after': '3' });
    assert.equal(internal, false);
  });

  it('maps Fastify body errors, Prisma constraint errors and Nest HTTP errors to 4xx kinds', () => {
    assert.equal(
      toProblem({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413, message: 'big' }, 'r', '/').problem.status,
      413,
    );
    assert.equal(toProblem({ code: 'P2002', message: 'unique' }, 'r', '/').problem.type, '/problems/conflict');
    assert.equal(toProblem(new NotFoundException('Cannot GET /x'), 'r', '/').problem.type, '/problems/not-found');
  });

  it('answers 503 with Retry-After when Postgres or Redis is down', () => {
    const redisDown = Object.assign(new Error('Reached the max retries per request limit'), {
      name: 'MaxRetriesPerRequestError',
    });
    // The shapes measured with Postgres behind a stopped proxy and Redis stopped (SIGSTOP) or killed.
    const outages = [
      redisDown,
      new Error('Command timed out'),
      { code: 'P1001', message: "Can't reach database server" },
      { code: 'P2010', message: "Raw query failed. Code: `N/A`. Message: `Can't reach database server at h:5432`" },
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('wrapped'), { cause: { code: 'ECONNREFUSED' } }),
    ];
    for (const error of outages) {
      const { problem, headers } = toProblem(error, 'r', '/');
      assert.equal(problem.status, 503);
      assert.equal(headers['retry-after'], '5');
      assert.match(problem.detail ?? '', /unreachable/);
    }
  });

  it('names a pool whose connections all stayed busy, not an unreachable database', () => {
    const { problem, headers } = toProblem(new Error('timeout exceeded when trying to connect'), 'r', '/');
    assert.equal(problem.status, 503);
    assert.equal(headers['retry-after'], '5');
    assert.match(problem.detail ?? '', /Every database connection stayed busy/);
  });

  it('hides the message of unknown errors behind a 500', () => {
    const { problem, internal } = toProblem(new Error('password=hunter2'), 'r', '/');
    assert.equal(problem.status, 500);
    assert.equal(internal, true);
    assert.ok(!JSON.stringify(problem).includes('hunter2'));
  });
});
