-- AlterEnum
ALTER TYPE "composition_status" ADD VALUE 'stale';

-- AlterTable
ALTER TABLE "documents" ALTER COLUMN "content_hash" DROP NOT NULL;
