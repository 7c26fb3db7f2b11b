-- AlterTable
ALTER TABLE "tenants" ADD COLUMN     "routing_generation" BIGINT NOT NULL DEFAULT 0;

-- Every change to what routing resolves (adapters, their versions, compositions and their
-- members, base models) bumps the routing generation of the tenant it belongs to — of every
-- tenant for a platform base model (tenant_id NULL), which all tenants resolve. Gateways cache
-- resolutions under the generation they read first, so a change from any process (gateway or
-- worker, API or SQL) retires every cached resolution when it commits. The triggers are
-- deferred to commit: the tenant row is locked last and briefly, after every other row the
-- transaction touched (an immediate bump would hold it from the first change on, and could
-- deadlock two transactions that touch the same rows in another order). SECURITY DEFINER: it
-- touches only the counters.
CREATE FUNCTION tessera_bump_routing_generation()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  changed text := COALESCE(
    CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.tenant_id END,
    CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.tenant_id END);
BEGIN
  IF changed IS NULL AND TG_TABLE_NAME = 'base_models' THEN
    UPDATE tenants SET routing_generation = routing_generation + 1;
  ELSE
    UPDATE tenants SET routing_generation = routing_generation + 1 WHERE id = changed;
  END IF;
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION tessera_bump_routing_generation() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER adapters_routing_generation AFTER INSERT OR UPDATE OR DELETE ON adapters
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE CONSTRAINT TRIGGER adapter_versions_routing_generation AFTER INSERT OR UPDATE OR DELETE ON adapter_versions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE CONSTRAINT TRIGGER compositions_routing_generation AFTER INSERT OR UPDATE OR DELETE ON compositions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE CONSTRAINT TRIGGER composition_members_routing_generation AFTER INSERT OR UPDATE OR DELETE ON composition_members
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
CREATE CONSTRAINT TRIGGER base_models_routing_generation AFTER INSERT OR UPDATE OR DELETE ON base_models
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_bump_routing_generation();
