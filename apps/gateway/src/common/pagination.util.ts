import type { ListQuery, Page } from '@tessera/contracts';

/** Prisma arguments for one page: ids sort by creation time, `after` is the last id seen. */
export function pageArgs(query: ListQuery) {
  return {
    where: query.after ? { id: { gt: query.after } } : {},
    orderBy: { id: 'asc' as const },
    take: query.limit + 1,
  };
}

/** We fetch one row more than asked to learn whether another page follows. */
export function toPage<Row, Item>(rows: Row[], query: ListQuery, toItem: (row: Row) => Item): Page<Item> {
  return { data: rows.slice(0, query.limit).map(toItem), has_more: rows.length > query.limit };
}
