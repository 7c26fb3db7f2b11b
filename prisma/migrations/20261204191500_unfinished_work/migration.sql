-- The reconciler finds work that Postgres says is unfinished before it knows which tenants
-- have any: this returns kinds, ids and tenants only (nothing of the rows' content), for
-- jobs queued or running and webhook deliveries pending since before p_settled_before.
CREATE FUNCTION tessera_unfinished_work(p_settled_before timestamptz)
RETURNS TABLE (kind text, id text, tenant_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT 'job', j.id, j.tenant_id FROM jobs j
  WHERE j.status IN ('queued', 'running') AND j.created_at < p_settled_before
  UNION ALL
  SELECT 'webhook_delivery', d.id, d.tenant_id FROM webhook_deliveries d
  WHERE d.status = 'pending' AND d.created_at < p_settled_before
$$;
REVOKE ALL ON FUNCTION tessera_unfinished_work(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tessera_unfinished_work(timestamptz) TO tessera_app;
