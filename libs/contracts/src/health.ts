import { z } from 'zod';

export const healthSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z
      .record(z.string(), z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() }))
      .optional(),
  })
  .meta({ id: 'Health' });

export type Health = z.infer<typeof healthSchema>;
