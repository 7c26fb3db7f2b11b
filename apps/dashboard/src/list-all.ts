import { paginate } from '@tessera/sdk';

type PageCall<Item> = (after: string | undefined) => Promise<{ data?: { data: Item[]; has_more: boolean } }>;

/** Every item of a cursor-paginated list, read in pages of the largest size the API allows. */
export async function listAll<Item extends { id: string }>(fetchPage: PageCall<Item>): Promise<Item[]> {
  const items: Item[] = [];
  for await (const item of paginate(fetchPage)) items.push(item);
  return items;
}

export const PAGE_SIZE = 100;
