import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDatabaseOutage } from './outage.js';

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
