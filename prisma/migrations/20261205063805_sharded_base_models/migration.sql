-- CreateEnum
CREATE TYPE "base_model_precision" AS ENUM ('fp32', 'fp16', 'bf16', 'int8', 'int4');

-- AlterTable
ALTER TABLE "base_models" ADD COLUMN     "checkpoint_index" JSONB,
ADD COLUMN     "checkpoint_prefix" TEXT,
ADD COLUMN     "precision" "base_model_precision" NOT NULL DEFAULT 'fp32',
ADD COLUMN     "weight_shards" JSONB;

-- CreateTable
CREATE TABLE "base_model_shards" (
    "base_model_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "file" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "sha256" TEXT NOT NULL,
    "part_size" INTEGER NOT NULL,
    "blob" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "base_model_shards_pkey" PRIMARY KEY ("base_model_id","file")
);

-- CreateTable
CREATE TABLE "base_model_shard_parts" (
    "base_model_id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "file" TEXT NOT NULL,
    "part_number" INTEGER NOT NULL,
    "size" INTEGER NOT NULL,
    "blob" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "base_model_shard_parts_pkey" PRIMARY KEY ("base_model_id","file","part_number")
);

-- AddForeignKey
ALTER TABLE "base_model_shards" ADD CONSTRAINT "base_model_shards_base_model_id_fkey" FOREIGN KEY ("base_model_id") REFERENCES "base_models"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "base_model_shard_parts" ADD CONSTRAINT "base_model_shard_parts_base_model_id_file_fkey" FOREIGN KEY ("base_model_id", "file") REFERENCES "base_model_shards"("base_model_id", "file") ON DELETE CASCADE ON UPDATE CASCADE;

-- Shards and parts are the uploading tenant's rows: the same policy as every tenant table.
ALTER TABLE base_model_shards ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON base_model_shards
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE base_model_shard_parts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON base_model_shard_parts
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- A platform model's name is unique among the platform's (NULLs are distinct to the table's
-- (tenant_id, name) key); a tenant's own model of the same name still wins for that tenant.
CREATE UNIQUE INDEX base_models_platform_name_key ON base_models (name) WHERE tenant_id IS NULL;

-- The platform admin registers a checkpoint kept in place. Base models' RLS lets the app role
-- write only its tenant's rows, so the platform's (tenant_id NULL) are inserted here: one ready
-- row, validated by the gateway first. No row (a name already taken) when the insert conflicts.
CREATE FUNCTION tessera_register_platform_base_model(
  p_id text,
  p_name text,
  p_architecture model_architecture,
  p_config jsonb,
  p_precision base_model_precision,
  p_checkpoint_prefix text,
  p_weight_shards jsonb,
  p_tokenizer_blob text
)
RETURNS TABLE (id text, created_at timestamptz)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  INSERT INTO base_models AS b
    (id, tenant_id, name, architecture, config, tokenizer_blob, status, precision, checkpoint_prefix, weight_shards)
  VALUES
    (p_id, NULL, p_name, p_architecture, p_config, p_tokenizer_blob, 'ready', p_precision, p_checkpoint_prefix, p_weight_shards)
  ON CONFLICT (name) WHERE tenant_id IS NULL DO NOTHING
  RETURNING b.id, b.created_at
$$;
REVOKE ALL ON FUNCTION tessera_register_platform_base_model(text, text, model_architecture, jsonb, base_model_precision, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tessera_register_platform_base_model(text, text, model_architecture, jsonb, base_model_precision, text, jsonb, text) TO tessera_app;
