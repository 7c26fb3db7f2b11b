import type { Prisma, TenantTransaction } from '@tessera/db';
import type { Caller } from './caller.js';
import { ProblemException } from './problem.exception.js';

/*
 * The access rule, written once (docs/access.md). A key may use its own groups and its
 * principal's; an object in no group belongs to the whole tenant; a tenant-admin key sees
 * everything. Every query that can return a grouped object, or one derived from it (a
 * version, a job, its events and checkpoints, a deletion, usage), takes its filter from
 * here, so an object outside the caller's groups is a 404 on reads and writes alike.
 */

/** Admin keys administer the whole tenant: no group narrows them. */
export function seesEveryGroup(caller: Caller): boolean {
  return caller.scopes.includes('admin');
}

/** Rows with an `accessGroupId` the caller may see (no tenant filter: see `visible`). */
function inGroups(caller: Caller) {
  return seesEveryGroup(caller)
    ? {}
    : { OR: [{ accessGroupId: null }, { accessGroupId: { in: [...caller.groupIds] } }] };
}

/** The same rule for a group already loaded. */
export function mayUseGroup(caller: Caller, accessGroupId: string | null): boolean {
  return accessGroupId === null || seesEveryGroup(caller) || caller.groupIds.includes(accessGroupId);
}

/** Prisma filters of what the caller may see, one per kind of tenant-owned object. */
export const visible = {
  adapters(caller: Caller): Prisma.AdapterWhereInput {
    return { tenantId: caller.tenantId, ...inGroups(caller) };
  },

  adapterVersions(caller: Caller): Prisma.AdapterVersionWhereInput {
    return { tenantId: caller.tenantId, adapter: inGroups(caller) };
  },

  documents(caller: Caller): Prisma.DocumentWhereInput {
    return { tenantId: caller.tenantId, ...inGroups(caller) };
  },

  /**
   * A composition in one of the caller's groups whose members the caller may all use: a
   * merge or a learned gate carries its members' data. A knowledge base is the exception:
   * it is routed per request over the partitions the caller may see, so it is listed and its
   * other partitions are left out of what the caller is shown (see `mayUseGroup`).
   */
  compositions(caller: Caller): Prisma.CompositionWhereInput {
    if (seesEveryGroup(caller)) return { tenantId: caller.tenantId };
    return {
      tenantId: caller.tenantId,
      AND: [inGroups(caller), { OR: [{ method: 'centroid' }, { members: { every: { adapter: inGroups(caller) } } }] }],
    };
  },

  /** A job is visible when the adapter it trains and the composition it builds are. */
  jobs(caller: Caller): Prisma.JobWhereInput {
    if (seesEveryGroup(caller)) return { tenantId: caller.tenantId };
    return {
      tenantId: caller.tenantId,
      AND: [
        { OR: [{ adapterId: null }, { adapter: inGroups(caller) }] },
        { OR: [{ compositionId: null }, { composition: visible.compositions(caller) }] },
        { OR: [{ deletionRequestId: null }, { deletionRequest: visible.deletions(caller) }] },
      ],
    };
  },

  /** A deletion is visible when every document it deletes is: it names them and shows their proof. */
  deletions(caller: Caller): Prisma.DeletionRequestWhereInput {
    if (seesEveryGroup(caller)) return { tenantId: caller.tenantId };
    return { tenantId: caller.tenantId, documents: { every: { document: inGroups(caller) } } };
  },
};

/** A group the caller may put objects in: the tenant's, and one of the caller's unless it is an admin. */
export async function findUsableGroup(tx: TenantTransaction, caller: Caller, id: string) {
  const group = await tx.accessGroup.findFirst({ where: { id, tenantId: caller.tenantId } });
  if (!group || !mayUseGroup(caller, group.id)) throw ProblemException.notFound('access group', id);
  return group;
}

/**
 * Training never widens who may use data (docs/access.md). The group a new artifact (an
 * adapter, a learned gate) takes when the caller names none: that of its grouped documents
 * when they share one, none when there are none; documents of several groups are a 409 with
 * `hint` saying what to do instead.
 */
export function soleGroupOf(documents: readonly { accessGroupId: string | null }[], hint: string): string | null {
  const groups = [...new Set(documents.flatMap((d) => (d.accessGroupId ? [d.accessGroupId] : [])))];
  if (groups.length > 1) {
    throw new ProblemException(
      'conflict',
      `The documents span access groups ${groups.join(', ')}; one artifact cannot learn from them without widening who may use them: ${hint}`,
      [{ field: 'body.dataset_id', message: `documents of ${groups.length} access groups` }],
    );
  }
  return groups[0] ?? null;
}

/** What learns from documents must sit in a group that covers each of theirs, and must learn from some. */
export function checkGroupCovers(
  documents: readonly { accessGroupId: string | null }[],
  group: string | null,
  subject: string,
  hint: string,
): void {
  if (documents.length === 0)
    throw new ProblemException(
      'conflict',
      `The dataset has no active documents this key may read; ${subject} would train on nothing`,
      [{ field: 'body.dataset_id', message: 'no readable documents' }],
    );
  const uncovered = [
    ...new Set(documents.flatMap((d) => (d.accessGroupId && d.accessGroupId !== group ? [d.accessGroupId] : []))),
  ];
  if (uncovered.length) {
    throw new ProblemException(
      'conflict',
      `${subject} is in ${group ? `access group ${group}` : 'no access group'}, but the dataset has documents of access group ${uncovered.join(', ')}: callers outside that group could use what it learned; ${hint}`,
      [{ field: 'body.dataset_id', message: "documents outside the artifact's access group" }],
    );
  }
}
