import { z } from 'zod';

/**
 * A string field of user input: bounded, and without NUL characters, which Postgres
 * text columns cannot store (they would otherwise surface as a 500 from the database).
 */
export function text(maxLength: number) {
  return z
    .string()
    .max(maxLength)
    .refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');
}
