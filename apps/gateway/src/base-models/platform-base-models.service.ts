import { Inject, Injectable } from '@nestjs/common';
import {
  checkpointIndexSchema,
  indexShardFiles,
  newId,
  type BaseModelDto,
  type CheckpointIndex,
  type ProblemFieldError,
  type RegisterPlatformBaseModel,
  type StoredShards,
} from '@tessera/contracts';
import { Database } from '@tessera/db';
import { decoderConfigFromHf, type DecoderConfig } from '@tessera/engine/formats';
import { checkCheckpointPrefix, checkpointFile, type CheckpointStore, type RangedFile } from '@tessera/storage';
import { BLOB_STORES, type TenantBlobStores } from '../common/blob-store.provider.js';
import { ProblemException } from '../common/problem.exception.js';
import { checkpointProblems, checkpointRefused, SINGLE_SHARD, tokenizerProblem } from './checkpoint-checks.js';

const MiB = 1_048_576;

/** The JSON files a checkpoint folder may hold, and the most bytes of each the gateway reads. */
const JSON_FILE_LIMITS = {
  'config.json': MiB,
  'model.safetensors.index.json': 16 * MiB,
  'tokenizer.json': 64 * MiB,
  'tokenizer_config.json': 16 * MiB,
} as const;
type JsonFile = keyof typeof JSON_FILE_LIMITS;

/**
 * The platform admin registers a checkpoint kept in place under a prefix of the platform
 * checkpoint store: the gateway reads its JSON files and its shards' headers there (byte
 * ranges, never the tensor data), validates it as an upload is validated, and records a ready
 * platform model that every tenant may use and workers read from the same prefix. Nothing is copied.
 */
@Injectable()
export class PlatformBaseModelsService {
  constructor(
    private readonly database: Database,
    @Inject(BLOB_STORES) private readonly blobs: TenantBlobStores,
  ) {}

  async register(body: RegisterPlatformBaseModel): Promise<BaseModelDto> {
    const prefix = checkCheckpointPrefix(body.prefix);
    const store = this.blobs.platformCheckpoint(prefix);
    const where = `under ${store.location}`;
    const configJson = await readJson(store, 'config.json');
    if (configJson === null)
      throw new ProblemException('validation', `No config.json ${where}`, [
        { field: 'prefix', message: `${store.location} holds no config.json` },
      ]);
    let config: DecoderConfig;
    try {
      config = decoderConfigFromHf(configJson);
    } catch (error) {
      throw new ProblemException('validation', `config.json ${where} is not a checkpoint Tessera can run`, [
        { field: 'config.json', message: (error as Error).message },
      ]);
    }
    const indexJson = await readJson(store, 'model.safetensors.index.json');
    let index: CheckpointIndex | null = null;
    if (indexJson !== null) {
      const parsed = checkpointIndexSchema.safeParse(indexJson);
      if (!parsed.success)
        throw new ProblemException('validation', `model.safetensors.index.json ${where} is not an index`, [
          ...parsed.error.issues.slice(0, 20).map((issue) => ({
            field: ['model.safetensors.index.json', ...issue.path.map(String)].join('.'),
            message: issue.message,
          })),
        ]);
      index = parsed.data;
    }
    const problems: ProblemFieldError[] = [];
    const tokenizerJson = await readJson(store, 'tokenizer.json');
    if (tokenizerJson !== null) {
      const problem = tokenizerProblem(config, tokenizerJson, (await readJson(store, 'tokenizer_config.json')) ?? {});
      // Named by file here: the folder's tokenizer.json, or the chat template of its tokenizer_config.json.
      if (problem)
        problems.push({
          ...problem,
          field: problem.field === 'tokenizer' ? 'tokenizer.json' : 'tokenizer_config.json',
        });
    }
    const files = index ? indexShardFiles(index) : [SINGLE_SHARD];
    const shards = (await Promise.all(files.map((file) => checkpointFile(store, file)))).filter(
      (shard): shard is RangedFile => shard !== null,
    );
    problems.push(...(await checkpointProblems(config, index, shards)));
    if (problems.length) throw checkpointRefused(`The checkpoint ${where} cannot be served`, problems);

    const weightShards: StoredShards = shards.map((shard) => ({ file: shard.name, bytes: shard.size, sha256: null }));
    const precision = body.precision ?? 'fp32';
    const tokenizerBlob = tokenizerJson !== null ? 'tokenizer.json' : null;
    const created = await this.database.registerPlatformBaseModel({
      id: newId('bm'),
      name: body.name,
      architecture: config.architecture,
      config: { ...config },
      precision,
      checkpointPrefix: prefix,
      weightShards,
      tokenizerBlob,
    });
    if (!created) throw new ProblemException('conflict', `A platform base model named ${body.name} exists`);
    return {
      id: created.id,
      name: body.name,
      architecture: config.architecture,
      config: { ...config },
      owner: 'platform',
      status: 'ready',
      precision,
      has_tokenizer: tokenizerBlob !== null,
      created_at: created.createdAt.toISOString(),
    };
  }
}

/** A JSON object file of the checkpoint, read whole within its limit; null when the file is not there. */
async function readJson(store: CheckpointStore, file: JsonFile): Promise<Record<string, unknown> | null> {
  const size = await store.size(file);
  if (size === null) return null;
  const limit = JSON_FILE_LIMITS[file];
  if (size > limit)
    throw new ProblemException('validation', `${file} under ${store.location} is over ${limit} bytes`, [
      { field: file, message: `${size} bytes; at most ${limit}` },
    ]);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(await store.readRange(file, 0, size)));
  } catch {
    value = undefined;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new ProblemException('validation', `${file} under ${store.location} is not a JSON object`, [
      { field: file, message: 'not a JSON object' },
    ]);
  return value as Record<string, unknown>;
}
