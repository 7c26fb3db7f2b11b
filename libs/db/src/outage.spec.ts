import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDatabaseOutage, isDatabasePoolExhausted } from './outage.js';

describe('isDatabaseOutage', () => {
  it("knows a lost database by Prisma's codes, the driver adapter's kinds, SQLSTATE class 08 and pg's messages, through causes", () => {
    for (const error of [
      { code: 'P1001' },
      { code: 'P1008' },
      { message: 'wrapped', cause: { kind: 'ConnectionClosed' } },
      { cause: { cause: { kind: 'DatabaseNotReachable' } } },
      { code: '08006' },
      new Error('Connection terminated unexpectedly'),
      // Prisma's "Database error" for a server shutting down: the SQLSTATE is under meta, not a cause.
      { code: 'P2039', meta: { driverAdapterError: { cause: { kind: 'postgres', originalCode: '57P01' } } } },
      { code: 'P2037' },
    ])
      assert.ok(isDatabaseOutage(error), JSON.stringify(error));
  });

  it('leaves a query the database refused to its caller', () => {
    for (const error of [
      { code: 'P2002' },
      { cause: { kind: 'UniqueConstraintViolation' } },
      { code: '23505' },
      { code: 'P2039', meta: { driverAdapterError: { cause: { kind: 'postgres', originalCode: '22P02' } } } },
      new Error('syntax error'),
    ])
      assert.ok(!isDatabaseOutage(error), JSON.stringify(error));
  });
});

describe('isDatabasePoolExhausted', () => {
  it("tells a wait for a busy pool's connection from a connection that could not be made", () => {
    const poolWait = new Error('timeout exceeded when trying to connect');
    for (const error of [
      poolWait,
      { code: 'P2024' },
      { code: 'P2010', meta: { driverAdapterError: { cause: poolWait } } },
    ]) {
      assert.ok(isDatabasePoolExhausted(error), JSON.stringify(error));
      assert.ok(isDatabaseOutage(error), JSON.stringify(error));
    }
    for (const error of [new Error('Connection terminated due to connection timeout'), { code: 'P1001' }])
      assert.ok(!isDatabasePoolExhausted(error), JSON.stringify(error));
  });
});
