import type { FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';

/**
 * Every route's methods, in a router of their own (find-my-way, the one Fastify routes with),
 * so that a path served for other methods answers 405 with `Allow` instead of 404.
 */
class AllowedMethods {
  private readonly router = FindMyWay();
  private readonly methods = new Set<HTTPMethod>();

  add(method: HTTPMethod | HTTPMethod[], url: string): void {
    for (const one of Array.isArray(method) ? method : [method]) {
      this.methods.add(one);
      this.router.on(one, url, () => undefined);
    }
  }

  /** The methods some route serves at `path`, sorted; none when no route has the path. */
  at(path: string): string[] {
    return [...this.methods].filter((method) => this.router.find(method, path)).sort();
  }
}

const byServer = new WeakMap<FastifyInstance, AllowedMethods>();

/** Records each route as it is registered: call before the application's routes are added. */
export function recordAllowedMethods(fastify: FastifyInstance): void {
  const allowed = new AllowedMethods();
  byServer.set(fastify, allowed);
  fastify.addHook('onRoute', (route) => allowed.add(route.method as HTTPMethod | HTTPMethod[], route.url));
}

export function allowedMethods(fastify: FastifyInstance, path: string): string[] {
  return byServer.get(fastify)?.at(path) ?? [];
}
