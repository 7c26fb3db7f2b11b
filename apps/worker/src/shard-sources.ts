import { baseModelTokenizerSchema, storedShardsSchema, type BaseModelTokenizer } from '@tessera/contracts';
import type { BaseModelModel } from '@tessera/db';
import type { ShardSource } from '@tessera/engine';
import { blobFile, checkpointFile, type TenantBlobStores } from '@tessera/storage';

/**
 * An imported base model's safetensors shards as byte-range sources, never read whole: a
 * tenant's upload from its blob store (each shard one blob), a platform checkpoint from its
 * prefix in the platform checkpoint store, where it was validated in place. Built-in models
 * (`builtin:`) are files under MODELS_DIR, read by the loader itself.
 */
export async function shardSourcesOf(row: BaseModelModel, blobs: TenantBlobStores): Promise<ShardSource[]> {
  // Rows made before shards were recorded hold their one model.safetensors in weightsBlob.
  const shards =
    row.weightShards !== null
      ? storedShardsSchema.parse(row.weightShards)
      : row.weightsBlob !== null
        ? [{ file: 'model.safetensors', bytes: null, sha256: row.weightsBlob }]
        : [];
  if (shards.length === 0) throw new Error(`base model ${row.id} records no shards`);
  if (row.checkpointPrefix !== null) {
    const store = blobs.platformCheckpoint(row.checkpointPrefix);
    return Promise.all(
      shards.map(async (shard) => {
        const file = await checkpointFile(store, shard.file);
        if (!file) throw new Error(`base model ${row.id}: ${store.location}/${shard.file} is gone`);
        // The folder is the operator's: a shard rewritten since it was validated is not read.
        if (file.size !== shard.bytes)
          throw new Error(
            `base model ${row.id}: ${store.location}/${shard.file} holds ${file.size} bytes, ${shard.bytes} when it was validated`,
          );
        return file;
      }),
    );
  }
  if (!row.tenantId) throw new Error(`base model ${row.id}: the platform's models are built in or kept in place`);
  const store = blobs.forTenant(row.tenantId);
  return Promise.all(
    shards.map((shard) => {
      if (!shard.sha256) throw new Error(`base model ${row.id}: shard ${shard.file} has no blob`);
      return blobFile(store, shard.sha256, shard.file);
    }),
  );
}

/** An imported base model's tokenizer.json and tokenizer_config.json; null when it reads bytes. */
export async function tokenizerFilesOf(
  row: BaseModelModel,
  blobs: TenantBlobStores,
): Promise<BaseModelTokenizer | null> {
  if (row.tokenizerBlob === null) return null;
  const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  if (row.checkpointPrefix !== null) {
    const store = blobs.platformCheckpoint(row.checkpointPrefix);
    const json = async (file: string) => {
      const size = await store.size(file);
      return size === null ? undefined : decode(await store.readRange(file, 0, size));
    };
    return baseModelTokenizerSchema.parse({
      tokenizer: await json('tokenizer.json'),
      tokenizer_config: await json('tokenizer_config.json'),
    });
  }
  if (!row.tenantId) throw new Error(`base model ${row.id}: no tokenizer store`);
  return baseModelTokenizerSchema.parse(decode(await blobs.forTenant(row.tenantId).get(row.tokenizerBlob)));
}
