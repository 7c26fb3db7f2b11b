-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "principal_kind" AS ENUM ('user', 'service');

-- CreateEnum
CREATE TYPE "api_key_scope" AS ENUM ('admin', 'write', 'read', 'infer');

-- CreateEnum
CREATE TYPE "model_architecture" AS ENUM ('gpt2', 'llama');

-- CreateEnum
CREATE TYPE "dataset_format" AS ENUM ('text', 'prompt_completion', 'chat');

-- CreateEnum
CREATE TYPE "dataset_status" AS ENUM ('uploading', 'validating', 'ready', 'failed');

-- CreateEnum
CREATE TYPE "document_status" AS ENUM ('active', 'deleting', 'deleted');

-- CreateEnum
CREATE TYPE "adapter_status" AS ENUM ('active', 'archived', 'deleted');

-- CreateEnum
CREATE TYPE "adapter_version_status" AS ENUM ('queued', 'training', 'ready', 'stale', 'archived', 'deleted');

-- CreateEnum
CREATE TYPE "composition_method" AS ENUM ('linear', 'cat', 'ties', 'dare_linear', 'dare_ties', 'learned_gate', 'arrow', 'centroid');

-- CreateEnum
CREATE TYPE "composition_status" AS ENUM ('queued', 'building', 'ready', 'failed', 'archived');

-- CreateEnum
CREATE TYPE "job_kind" AS ENUM ('fine_tune', 'compose', 'retrain', 'audit');

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('queued', 'running', 'succeeded', 'failed', 'cancelled');

-- CreateEnum
CREATE TYPE "job_event_type" AS ENUM ('status', 'message', 'metric');

-- CreateEnum
CREATE TYPE "deletion_status" AS ENUM ('pending', 'retraining', 'auditing', 'completed', 'failed');

-- CreateEnum
CREATE TYPE "webhook_delivery_status" AS ENUM ('pending', 'succeeded', 'failed');

-- CreateTable
CREATE TABLE "tenants" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "principals" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "kind" "principal_kind" NOT NULL,
    "name" TEXT NOT NULL,
    "email" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "disabled_at" TIMESTAMPTZ(3),

    CONSTRAINT "principals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_keys" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "principal_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "display_prefix" TEXT NOT NULL,
    "key_hash" BYTEA NOT NULL,
    "scopes" "api_key_scope"[],
    "rate_limit_per_minute" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "access_groups" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "access_groups_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "group_memberships" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "group_id" TEXT NOT NULL,
    "principal_id" TEXT,
    "api_key_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "group_memberships_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "base_models" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT,
    "name" TEXT NOT NULL,
    "architecture" "model_architecture" NOT NULL,
    "config" JSONB NOT NULL,
    "weights_blob" TEXT NOT NULL,
    "tokenizer_blob" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "base_models_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "datasets" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "format" "dataset_format" NOT NULL,
    "status" "dataset_status" NOT NULL DEFAULT 'uploading',
    "blob" TEXT,
    "bytes" BIGINT NOT NULL DEFAULT 0,
    "record_count" INTEGER NOT NULL DEFAULT 0,
    "token_count" BIGINT NOT NULL DEFAULT 0,
    "errors" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "datasets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "documents" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "dataset_id" TEXT NOT NULL,
    "external_id" TEXT NOT NULL,
    "access_group_id" TEXT,
    "content_hash" TEXT NOT NULL,
    "record_count" INTEGER NOT NULL,
    "token_count" INTEGER NOT NULL,
    "status" "document_status" NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "adapters" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "base_model_id" TEXT NOT NULL,
    "access_group_id" TEXT,
    "status" "adapter_status" NOT NULL DEFAULT 'active',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "adapters_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "adapter_versions" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "adapter_id" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "status" "adapter_version_status" NOT NULL DEFAULT 'queued',
    "rank" INTEGER NOT NULL,
    "alpha" DOUBLE PRECISION NOT NULL,
    "target_modules" TEXT[],
    "seed" INTEGER NOT NULL,
    "partition_key" TEXT,
    "weights_blob" TEXT,
    "metrics" JSONB,
    "centroid" BYTEA,
    "training_job_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ready_at" TIMESTAMPTZ(3),
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "adapter_versions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "adapter_version_documents" (
    "tenant_id" TEXT NOT NULL,
    "adapter_version_id" TEXT NOT NULL,
    "document_id" TEXT NOT NULL,

    CONSTRAINT "adapter_version_documents_pkey" PRIMARY KEY ("adapter_version_id","document_id")
);

-- CreateTable
CREATE TABLE "compositions" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "method" "composition_method" NOT NULL,
    "params" JSONB NOT NULL DEFAULT '{}',
    "access_group_id" TEXT,
    "status" "composition_status" NOT NULL DEFAULT 'queued',
    "artifact_blob" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "compositions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "composition_members" (
    "tenant_id" TEXT NOT NULL,
    "composition_id" TEXT NOT NULL,
    "adapter_id" TEXT NOT NULL,
    "adapter_version_id" TEXT,
    "weight" DOUBLE PRECISION NOT NULL DEFAULT 1,

    CONSTRAINT "composition_members_pkey" PRIMARY KEY ("composition_id","adapter_id")
);

-- CreateTable
CREATE TABLE "jobs" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "kind" "job_kind" NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "parent_job_id" TEXT,
    "base_model_id" TEXT,
    "dataset_id" TEXT,
    "adapter_id" TEXT,
    "adapter_version_id" TEXT,
    "composition_id" TEXT,
    "deletion_request_id" TEXT,
    "params" JSONB NOT NULL DEFAULT '{}',
    "progress" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "result" JSONB,
    "error" JSONB,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "cancel_requested_at" TIMESTAMPTZ(3),

    CONSTRAINT "jobs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_events" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "type" "job_event_type" NOT NULL,
    "message" TEXT,
    "data" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "checkpoints" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "job_id" TEXT NOT NULL,
    "step" INTEGER NOT NULL,
    "blob" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "checkpoints_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deletion_requests" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "status" "deletion_status" NOT NULL DEFAULT 'pending',
    "reason" TEXT,
    "steps" JSONB NOT NULL DEFAULT '[]',
    "proof" JSONB,
    "error" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "deletion_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "deletion_documents" (
    "tenant_id" TEXT NOT NULL,
    "deletion_request_id" TEXT NOT NULL,
    "document_id" TEXT NOT NULL,

    CONSTRAINT "deletion_documents_pkey" PRIMARY KEY ("deletion_request_id","document_id")
);

-- CreateTable
CREATE TABLE "deletion_affected_versions" (
    "tenant_id" TEXT NOT NULL,
    "deletion_request_id" TEXT NOT NULL,
    "adapter_version_id" TEXT NOT NULL,
    "retrain_job_id" TEXT,
    "replacement_version_id" TEXT,

    CONSTRAINT "deletion_affected_versions_pkey" PRIMARY KEY ("deletion_request_id","adapter_version_id")
);

-- CreateTable
CREATE TABLE "webhook_endpoints" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "description" TEXT,
    "secret" TEXT NOT NULL,
    "event_types" TEXT[],
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "disabled_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_events" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "endpoint_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "status" "webhook_delivery_status" NOT NULL DEFAULT 'pending',
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_attempts" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "delivery_id" TEXT NOT NULL,
    "attempt_number" INTEGER NOT NULL,
    "status_code" INTEGER,
    "latency_ms" INTEGER,
    "response_excerpt" TEXT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_logs" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "actor_key_id" TEXT,
    "action" TEXT NOT NULL,
    "resource_type" TEXT NOT NULL,
    "resource_id" TEXT NOT NULL,
    "request_id" TEXT,
    "data" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audit_logs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_records" (
    "id" TEXT NOT NULL,
    "tenant_id" TEXT NOT NULL,
    "api_key_id" TEXT,
    "base_model_id" TEXT,
    "adapter_id" TEXT,
    "adapter_version_id" TEXT,
    "composition_id" TEXT,
    "prompt_tokens" INTEGER NOT NULL,
    "completion_tokens" INTEGER NOT NULL,
    "request_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_records_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "principals_tenant_id_id_idx" ON "principals"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys"("key_hash");

-- CreateIndex
CREATE INDEX "api_keys_tenant_id_id_idx" ON "api_keys"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "access_groups_tenant_id_id_idx" ON "access_groups"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "access_groups_tenant_id_name_key" ON "access_groups"("tenant_id", "name");

-- CreateIndex
CREATE INDEX "group_memberships_tenant_id_group_id_id_idx" ON "group_memberships"("tenant_id", "group_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "group_memberships_group_id_principal_id_key" ON "group_memberships"("group_id", "principal_id");

-- CreateIndex
CREATE UNIQUE INDEX "group_memberships_group_id_api_key_id_key" ON "group_memberships"("group_id", "api_key_id");

-- CreateIndex
CREATE UNIQUE INDEX "base_models_tenant_id_name_key" ON "base_models"("tenant_id", "name");

-- CreateIndex
CREATE INDEX "datasets_tenant_id_id_idx" ON "datasets"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "documents_tenant_id_id_idx" ON "documents"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "documents_dataset_id_external_id_key" ON "documents"("dataset_id", "external_id");

-- CreateIndex
CREATE INDEX "adapters_tenant_id_id_idx" ON "adapters"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "adapters_tenant_id_name_key" ON "adapters"("tenant_id", "name");

-- CreateIndex
CREATE INDEX "adapter_versions_tenant_id_id_idx" ON "adapter_versions"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "adapter_versions_adapter_id_version_key" ON "adapter_versions"("adapter_id", "version");

-- CreateIndex
CREATE INDEX "adapter_version_documents_document_id_idx" ON "adapter_version_documents"("document_id");

-- CreateIndex
CREATE INDEX "compositions_tenant_id_id_idx" ON "compositions"("tenant_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "compositions_tenant_id_name_version_key" ON "compositions"("tenant_id", "name", "version");

-- CreateIndex
CREATE INDEX "jobs_tenant_id_id_idx" ON "jobs"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "jobs_status_kind_idx" ON "jobs"("status", "kind");

-- CreateIndex
CREATE INDEX "job_events_tenant_id_job_id_id_idx" ON "job_events"("tenant_id", "job_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "checkpoints_job_id_step_key" ON "checkpoints"("job_id", "step");

-- CreateIndex
CREATE INDEX "deletion_requests_tenant_id_id_idx" ON "deletion_requests"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "webhook_endpoints_tenant_id_id_idx" ON "webhook_endpoints"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "webhook_events_tenant_id_id_idx" ON "webhook_events"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "webhook_deliveries_tenant_id_endpoint_id_id_idx" ON "webhook_deliveries"("tenant_id", "endpoint_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "webhook_attempts_delivery_id_attempt_number_key" ON "webhook_attempts"("delivery_id", "attempt_number");

-- CreateIndex
CREATE INDEX "audit_logs_tenant_id_id_idx" ON "audit_logs"("tenant_id", "id");

-- CreateIndex
CREATE INDEX "usage_records_tenant_id_created_at_idx" ON "usage_records"("tenant_id", "created_at");

-- CreateIndex
CREATE INDEX "usage_records_tenant_id_adapter_id_created_at_idx" ON "usage_records"("tenant_id", "adapter_id", "created_at");

-- AddForeignKey
ALTER TABLE "principals" ADD CONSTRAINT "principals_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_principal_id_fkey" FOREIGN KEY ("principal_id") REFERENCES "principals"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "access_groups" ADD CONSTRAINT "access_groups_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_memberships" ADD CONSTRAINT "group_memberships_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "access_groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_memberships" ADD CONSTRAINT "group_memberships_principal_id_fkey" FOREIGN KEY ("principal_id") REFERENCES "principals"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "group_memberships" ADD CONSTRAINT "group_memberships_api_key_id_fkey" FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_dataset_id_fkey" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_access_group_id_fkey" FOREIGN KEY ("access_group_id") REFERENCES "access_groups"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_base_model_id_fkey" FOREIGN KEY ("base_model_id") REFERENCES "base_models"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapters" ADD CONSTRAINT "adapters_access_group_id_fkey" FOREIGN KEY ("access_group_id") REFERENCES "access_groups"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_versions" ADD CONSTRAINT "adapter_versions_adapter_id_fkey" FOREIGN KEY ("adapter_id") REFERENCES "adapters"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_version_documents" ADD CONSTRAINT "adapter_version_documents_adapter_version_id_fkey" FOREIGN KEY ("adapter_version_id") REFERENCES "adapter_versions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "adapter_version_documents" ADD CONSTRAINT "adapter_version_documents_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "compositions" ADD CONSTRAINT "compositions_access_group_id_fkey" FOREIGN KEY ("access_group_id") REFERENCES "access_groups"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "composition_members" ADD CONSTRAINT "composition_members_composition_id_fkey" FOREIGN KEY ("composition_id") REFERENCES "compositions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "composition_members" ADD CONSTRAINT "composition_members_adapter_id_fkey" FOREIGN KEY ("adapter_id") REFERENCES "adapters"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "composition_members" ADD CONSTRAINT "composition_members_adapter_version_id_fkey" FOREIGN KEY ("adapter_version_id") REFERENCES "adapter_versions"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_parent_job_id_fkey" FOREIGN KEY ("parent_job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_base_model_id_fkey" FOREIGN KEY ("base_model_id") REFERENCES "base_models"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_dataset_id_fkey" FOREIGN KEY ("dataset_id") REFERENCES "datasets"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_adapter_id_fkey" FOREIGN KEY ("adapter_id") REFERENCES "adapters"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_composition_id_fkey" FOREIGN KEY ("composition_id") REFERENCES "compositions"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_deletion_request_id_fkey" FOREIGN KEY ("deletion_request_id") REFERENCES "deletion_requests"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deletion_documents" ADD CONSTRAINT "deletion_documents_deletion_request_id_fkey" FOREIGN KEY ("deletion_request_id") REFERENCES "deletion_requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deletion_documents" ADD CONSTRAINT "deletion_documents_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deletion_affected_versions" ADD CONSTRAINT "deletion_affected_versions_deletion_request_id_fkey" FOREIGN KEY ("deletion_request_id") REFERENCES "deletion_requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "deletion_affected_versions" ADD CONSTRAINT "deletion_affected_versions_adapter_version_id_fkey" FOREIGN KEY ("adapter_version_id") REFERENCES "adapter_versions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_id_fkey" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_fkey" FOREIGN KEY ("event_id") REFERENCES "webhook_events"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "webhook_attempts" ADD CONSTRAINT "webhook_attempts_delivery_id_fkey" FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;
