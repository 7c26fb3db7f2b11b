-- Row-level security: the second lock under the application's tenant filters.
-- The app connects as tessera_app (no BYPASSRLS) and sets app.tenant_id per transaction
-- (libs/db withTenant). Tables are owned by the migrating role, which RLS does not bind.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
    CREATE ROLE tessera_app LOGIN NOBYPASSRLS;
  END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO tessera_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tessera_app;
REVOKE ALL ON TABLE "_prisma_migrations" FROM tessera_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO tessera_app;

-- Every table with a tenant_id column: rows are visible and writable only for the tenant
-- the transaction names. current_setting(..., true) is NULL when unset, so a query outside
-- withTenant sees nothing.
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN
    SELECT c.table_name FROM information_schema.columns c
    WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' AND c.table_name <> 'base_models'
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) '
      'WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t);
  END LOOP;
END
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = current_setting('app.tenant_id', true))
  WITH CHECK (id = current_setting('app.tenant_id', true));

-- Base models without a tenant are the platform's, readable by every tenant; tenants write only their own.
ALTER TABLE base_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON base_models FOR SELECT
  USING (tenant_id IS NULL OR tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_write ON base_models FOR ALL
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Authentication has to find a key before it knows the tenant: this function returns the
-- one row whose hash matches (a caller must already hold the secret) and nothing else.
CREATE FUNCTION tessera_find_api_key(p_key_hash bytea)
RETURNS TABLE (
  id text, tenant_id text, principal_id text, scopes text[], rate_limit_per_minute integer,
  expires_at timestamptz, revoked_at timestamptz, group_ids text[]
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT k.id, k.tenant_id, k.principal_id, k.scopes::text[], k.rate_limit_per_minute,
         k.expires_at, k.revoked_at,
         ARRAY(
           SELECT DISTINCT m.group_id FROM group_memberships m
           WHERE m.tenant_id = k.tenant_id AND (m.api_key_id = k.id OR m.principal_id = k.principal_id)
           ORDER BY m.group_id
         )
  FROM api_keys k
  WHERE k.key_hash = p_key_hash
$$;
REVOKE ALL ON FUNCTION tessera_find_api_key(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tessera_find_api_key(bytea) TO tessera_app;
