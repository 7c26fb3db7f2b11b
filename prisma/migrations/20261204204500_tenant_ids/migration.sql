-- Sweeps that visit every tenant (the blob sweeper) need the tenants before any tenant scope:
-- this returns their ids only, nothing else of the rows. Each tenant's own rows are then read
-- inside withTenant, under row-level security as always.
CREATE FUNCTION tessera_tenant_ids()
RETURNS TABLE (id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT t.id FROM tenants t ORDER BY t.id
$$;
REVOKE ALL ON FUNCTION tessera_tenant_ids() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tessera_tenant_ids() TO tessera_app;
