import { z } from 'zod';
import { parseSecretKey, WebhookSecretBox } from './secret-box.js';

/**
 * DEVELOPMENT ONLY: the key used when WEBHOOK_SECRET_KEY is unset, so that tests, e2e and
 * `npm start` run without configuring one. It is public (it is written here), so it protects
 * nothing; gateway and worker refuse to start without WEBHOOK_SECRET_KEY when NODE_ENV=production.
 */
const DEVELOPMENT_ONLY_KEY = Buffer.from('tessera-dev-only-webhook-key-32b');

/** The key's environment variables, shared by the gateway (writes secrets) and the worker (signs with them). */
export const webhookSecretKeyEnv = {
  NODE_ENV: z.string().optional(),
  /** 32 random bytes as base64 or hex (`openssl rand -base64 32`); encrypts webhook signing secrets at rest. */
  WEBHOOK_SECRET_KEY: z
    .string()
    .optional()
    .refine((text) => text === undefined || parseSecretKey(text) !== null, {
      message: 'WEBHOOK_SECRET_KEY must be 32 bytes as base64 or 64 hex digits (openssl rand -base64 32)',
    }),
};

type WebhookSecretKeyEnv = z.infer<z.ZodObject<typeof webhookSecretKeyEnv>>;

/** A refinement for the whole config: production never runs on the public development key. */
export const webhookSecretKeyInProduction: [(c: WebhookSecretKeyEnv) => boolean, { message: string; path: string[] }] =
  [
    (c) => c.NODE_ENV !== 'production' || c.WEBHOOK_SECRET_KEY !== undefined,
    {
      message: 'WEBHOOK_SECRET_KEY is required when NODE_ENV=production (the development key is public)',
      path: ['WEBHOOK_SECRET_KEY'],
    },
  ];

export function webhookSecretBox(env: WebhookSecretKeyEnv): WebhookSecretBox {
  const key = env.WEBHOOK_SECRET_KEY === undefined ? DEVELOPMENT_ONLY_KEY : parseSecretKey(env.WEBHOOK_SECRET_KEY);
  if (!key) throw new Error('WEBHOOK_SECRET_KEY is not a 32-byte key');
  return new WebhookSecretBox(key);
}
