-- CreateEnum
CREATE TYPE "base_model_status" AS ENUM ('uploading', 'ready');

-- AlterTable
ALTER TABLE "base_models" ADD COLUMN     "status" "base_model_status" NOT NULL DEFAULT 'ready',
ALTER COLUMN "weights_blob" DROP NOT NULL;
