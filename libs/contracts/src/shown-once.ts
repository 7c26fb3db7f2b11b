import { z } from 'zod';

/**
 * A secret the API returns once, in the response to the request that created it; afterwards
 * only its hash (API keys) or an encrypted copy (webhook secrets) exists. An idempotent replay
 * of that request (`Idempotency-Replay: true`) carries `null` here: the gateway never keeps a
 * secret to replay it.
 */
export function shownOnceSecret(what: string) {
  return z
    .string()
    .nullable()
    .describe(
      `${what} Present only in the response to the original request: store it now. ` +
        'An idempotent replay of the request (Idempotency-Replay: true) carries null.',
    );
}
