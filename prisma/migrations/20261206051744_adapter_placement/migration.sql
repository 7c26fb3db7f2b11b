-- AlterTable
ALTER TABLE "adapter_versions" ADD COLUMN     "placement" JSONB;
