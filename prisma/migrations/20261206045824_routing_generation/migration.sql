-- AlterTable
ALTER TABLE "tenants" ADD COLUMN     "routing_generation" BIGINT NOT NULL DEFAULT 0;

-- Every change to what routing resolves (adapters, their versions, compositions and their
-- members, the tenant's own base models) bumps the tenant's routing generation in the same
-- transaction. Gateways cache resolutions under the generation they read first, so a change
-- from any process (gateway or worker, API or SQL) retires every cached resolution when it
-- commits. SECURITY DEFINER: it touches only the counter of the changed row's own tenant.
CREATE FUNCTION tessera_bump_routing_generation()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE tenants SET routing_generation = routing_generation + 1
  WHERE id = COALESCE(
    CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.tenant_id END,
    CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.tenant_id END);
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tessera_bump_routing_generation() FROM PUBLIC;

CREATE TRIGGER adapters_routing_generation AFTER INSERT OR UPDATE OR DELETE ON adapters
  FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE TRIGGER adapter_versions_routing_generation AFTER INSERT OR UPDATE OR DELETE ON adapter_versions
  FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE TRIGGER compositions_routing_generation AFTER INSERT OR UPDATE OR DELETE ON compositions
  FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE TRIGGER composition_members_routing_generation AFTER INSERT OR UPDATE OR DELETE ON composition_members
  FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE TRIGGER base_models_routing_generation AFTER INSERT OR UPDATE OR DELETE ON base_models
  FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
