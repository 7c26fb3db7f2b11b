import { z } from 'zod';

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

/** `?limit=&after=`: `after` is the id of the last item of the previous page. */
export function listQuerySchema<T extends z.ZodType<string>>(afterId: T) {
  return z.strictObject({
    limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
    after: afterId.optional(),
  });
}

export type ListQuery = { limit: number; after?: string | undefined };

/** `{ data, has_more }`, named `<Item>List` in the OpenAPI document. */
export function listSchema<T extends z.ZodType>(item: T, id: string) {
  return z.object({ data: z.array(item), has_more: z.boolean() }).meta({ id });
}

export type Page<T> = { data: T[]; has_more: boolean };
