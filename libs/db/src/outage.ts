/**
 * Whether an error means Postgres could not be reached or answered nothing usable (down,
 * restarting, connections dropped, pool exhausted), as opposed to a query the database
 * refused. Callers answer these with 503 + Retry-After and retry them; never the caller's fault.
 */
export function isDatabaseOutage(error: unknown): boolean {
  return errorChain(error).some(
    (e) =>
      (typeof e.code === 'string' && OUTAGE_CODES.has(e.code)) ||
      (typeof e.originalCode === 'string' && OUTAGE_CODES.has(e.originalCode)) ||
      // The Prisma driver adapter's own classification of a pg socket error.
      (typeof e.kind === 'string' && OUTAGE_KINDS.has(e.kind)) ||
      // pg and the Prisma driver adapter report lost connections by message only.
      (typeof e.message === 'string' && OUTAGE_MESSAGES.some((m) => e.message!.includes(m))),
  );
}

/**
 * Whether the outage is a wait for a pooled connection that ran out: every connection stayed
 * busy (the service is overloaded, or Postgres stopped answering the queries it holds), as
 * opposed to a connection that could not be made. pg's pool says so in its message only; a new
 * connection that times out says "Connection terminated due to connection timeout" instead.
 */
export function isDatabasePoolExhausted(error: unknown): boolean {
  return errorChain(error).some(
    (e) => e.code === 'P2024' || (typeof e.message === 'string' && e.message.includes(POOL_WAIT_TIMEOUT)),
  );
}

/** The error and what it wraps, a few levels deep. */
function errorChain(error: unknown): ErrorLike[] {
  // Prisma's request errors keep the driver's error under meta.driverAdapterError, not as a cause.
  const chain: ErrorLike[] = [];
  for (let e = error as ErrorLike | undefined; e && chain.length < 5; e = e.cause ?? e.meta?.driverAdapterError)
    chain.push(e);
  return chain;
}

interface ErrorLike {
  code?: unknown;
  /** The SQLSTATE a driver adapter error carries (e.g. 57P01 inside Prisma's P2039). */
  originalCode?: unknown;
  kind?: unknown;
  meta?: { driverAdapterError?: ErrorLike };
  message?: string;
  cause?: ErrorLike;
}

// P1001/P1002/P1008/P1017: unreachable, timed out, operation timed out, closed; P2024/P2028: no
// pooled connection or transaction could be had in time. SQLSTATE class 08: the connection
// failed. The rest are the socket's own codes.
const OUTAGE_CODES = new Set([
  'P1001',
  'P1002',
  'P1008',
  'P1017',
  '08000',
  '08001',
  '08003',
  '08006',
  'P2024',
  'P2028',
  'P2037', // too many database connections opened
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown: the server is stopping
  '57P03', // cannot_connect_now: the server is starting
]);

/** @prisma/adapter-pg's kinds for a pg socket error (ECONNREFUSED, ECONNRESET, ETIMEDOUT) and a full server. */
const OUTAGE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

/** pg's pool, when no pooled connection came free within connectionTimeoutMillis. */
const POOL_WAIT_TIMEOUT = 'timeout exceeded when trying to connect';

const OUTAGE_MESSAGES = [
  "Can't reach database server",
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  POOL_WAIT_TIMEOUT,
  'Client has encountered a connection error and is not queryable',
];
