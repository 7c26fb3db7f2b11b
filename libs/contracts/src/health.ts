import { z } from 'zod';

export const healthSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z
      .record(z.string(), z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() }))
      .optional(),
    workers: z
      .array(
        z.object({
          provider: z.string().meta({ description: 'The execution provider its sessions run on' }),
          requested_provider: z
            .string()
            .meta({ description: 'The one it was configured for; differs after a fallback' }),
          device: z.string(),
          device_memory_bytes: z.number().nullable(),
          threads: z.number(),
        }),
      )
      .optional()
      .meta({ description: 'Live workers (those whose heartbeat is current)' }),
  })
  .meta({ id: 'Health' });

export type Health = z.infer<typeof healthSchema>;
