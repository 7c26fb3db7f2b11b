// Finding (or starting) the Postgres and Redis the platform needs.
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './run.mjs';

/** Applies the committed migrations as the database owner; creates none. */
export async function applyMigrations(ownerUrl, log = () => undefined) {
  const { migrate } = await import('@tessera/db/migrate');
  await migrate({
    databaseUrl: ownerUrl,
    schemaPath: path.join(ROOT, 'prisma/schema.prisma'),
    migrationsDir: path.join(ROOT, 'prisma/migrations'),
    create: false,
    log,
  });
}

/** Whether something answers TCP at host:port within the timeout. */
export function tcpOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Connects and runs SELECT 1; returns the error message or null. */
export async function postgresProblem(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    return error.message || String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the database named in `url` unless it exists, through the server's `postgres` database. */
export async function ensureDatabase(url, { recreate = false } = {}) {
  const { default: pg } = await import('pg');
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new pg.Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    const ident = '"' + name.replaceAll('"', '""') + '"';
    if (recreate) await client.query(`DROP DATABASE IF EXISTS ${ident} WITH (FORCE)`);
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${ident}`);
  } finally {
    await client.end();
  }
}

/** Answers PING with +PONG? Checks the Redis protocol, not just the port. */
export function redisAnswers(url, timeoutMs = 1000) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname || '127.0.0.1', port: Number(port || 6379) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
  });
}

export function which(command) {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** A URL with another user (and no password), e.g. the owner's URL turned into the app role's. */
export function withUser(url, user) {
  const next = new URL(url);
  next.username = user;
  next.password = '';
  return next.toString();
}

export function withDatabase(url, database) {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}
