import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Caller } from './caller.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
    /** Id under which rate limits and idempotency keys are kept: the API key's id or "platform". */
    credentialId?: string;
  }
}

/** The caller the auth guard attached; only on routes that require a tenant scope. */
export const CurrentCaller = createParamDecorator((_: unknown, ctx: ExecutionContext): Caller => {
  const caller = ctx.switchToHttp().getRequest<FastifyRequest>().caller;
  if (!caller) throw new Error('CurrentCaller used on a route without tenant authentication');
  return caller;
});
