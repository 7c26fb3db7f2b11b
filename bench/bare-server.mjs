// The baseline of the gateway benchmark: a bare Fastify route serving a fixed JSON body
// from memory, with nothing else (no auth, database, Redis, Nest or logging).
import Fastify from 'fastify';

const body = process.env.BENCH_BODY ?? '{}';
const app = Fastify({ logger: false });
app.get('/v1/groups', async (_request, reply) => reply.type('application/json; charset=utf-8').send(body));
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ msg: 'bare listening', url: `http://127.0.0.1:${app.server.address().port}` }));
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
