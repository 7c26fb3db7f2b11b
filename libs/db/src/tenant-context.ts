/**
 * Who a query runs for. Every function that reads or writes tenant-owned rows takes one,
 * so a query that forgot its tenant does not compile; Postgres row-level security is the
 * second lock underneath.
 */
export interface TenantContext {
  readonly tenantId: string;
}
