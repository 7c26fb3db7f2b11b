import type { Database } from '@tessera/db';
import {
  AdapterCache,
  BatchScheduler,
  ChatTemplateError,
  compileJsonSchema,
  JsonConstraint,
  shortestLength,
  UnsupportedSchemaError,
  ANY_OBJECT,
  type GenerateResult,
  type JsonGrammar,
  decodeCentroid,
  DecoderSession,
  readCompositionArtifact,
  readPeftAdapter,
  routeByCentroid,
  SlotPool,
  targetModules,
  WeightFile,
  type CompositionArtifact,
  type GenerateRequest,
  type LoraAdapter,
  type RequestAdapter,
  type TrainingModel,
  type ExecutionProvider,
} from '@tessera/engine';
import type { CacheEviction, EvictionAck, InferAdapter, InferEvent, InferJobData } from '@tessera/queue';
import type { TenantBlobStores } from '@tessera/storage';
import type { Job } from 'bullmq';
import type { BaseModelLoader } from './base-models.js';
import { EventPublisher } from './event-publisher.js';
import { ModelDoesNotFit } from './weight-cache.js';

export interface InferenceDeps {
  database: Database;
  blobs: TenantBlobStores;
  models: BaseModelLoader;
  threads: number;
  executionProvider: ExecutionProvider;
  maxRank: number;
  slots: number;
  maxBatch: number;
  /** KV cache tokens per model (0: maxBatch full contexts) and whether tenants' prompt prefixes are reused. */
  kvCacheTokens: number;
  prefixCache: boolean;
  /** Also load a session without the router for steps that route no token (INFER_FIXED_GATES_SESSION). */
  fixedGatesSession: boolean;
  adapterCacheBytes: number;
  publish: (requestId: string, event: InferEvent) => Promise<unknown>;
  log: (line: string) => void;
}

/** A request the worker cannot serve as asked: the client hears why (a 400), nothing is retried. */
class BadRequest extends Error {}

/** The grammar a structured request's output follows: its JSON Schema's, or any object. */
function structuredGrammar(structured: NonNullable<InferJobData['structured']>): JsonGrammar {
  if (structured.schema === undefined) return ANY_OBJECT;
  try {
    return compileJsonSchema(structured.schema);
  } catch (error) {
    if (error instanceof UnsupportedSchemaError)
      throw new BadRequest(`response_format.json_schema.schema ${error.message}`);
    throw error;
  }
}

interface ServedModel {
  model: TrainingModel;
  scheduler: BatchScheduler;
  pool: SlotPool;
  adapters: AdapterCache;
  /** Composition artifacts by tenant/blob (content-addressed: a new version is a new key). */
  compositions: ArtifactCache;
}

/** Parsed composition artifacts, loaded once each; small (a few hundred per worker at most). */
class ArtifactCache {
  private readonly loaded = new Map<string, Promise<CompositionArtifact>>();
  constructor(private readonly read: (key: string) => Promise<CompositionArtifact>) {}
  get(key: string): Promise<CompositionArtifact> {
    let artifact = this.loaded.get(key);
    if (!artifact) {
      artifact = this.read(key);
      this.loaded.set(key, artifact);
      artifact.catch(() => this.loaded.delete(key));
    }
    return artifact;
  }

  evict(key: string): boolean {
    return this.loaded.delete(key);
  }
}

/**
 * Serves `infer.<base model>` jobs: one scheduler per base model batches every request the
 * worker holds, step by step, over a slot pool covering every projection; adapters come from
 * the blob store through a host cache. Tokens are published as they are made.
 */
export class InferenceServer {
  private readonly served = new Map<string, Promise<ServedModel>>();
  /** Requests in flight by id, so a gateway's cancel reaches them. */
  private readonly running = new Map<string, AbortController>();

  constructor(private readonly deps: InferenceDeps) {}

  cancel(requestId: string): void {
    this.running.get(requestId)?.abort();
  }

  /**
   * Drops what a deletion made stale from every model this worker serves: adapter versions
   * from the host cache, composition artifacts, and every device slot that holds either (slot
   * ids are a version id, `cmp/<composition>` or `cmp/<composition>/<version>`).
   */
  async evict(eviction: CacheEviction): Promise<Omit<EvictionAck, 'worker'>> {
    const stale = new Set([...eviction.versionIds, ...eviction.compositionIds]);
    const dropped = { adapters: 0, artifacts: 0, slots: 0, prefixBlocks: 0 };
    const isStale = (slotId: string) => slotId.split('/').some((part) => stale.has(part));
    for (const loading of this.served.values()) {
      const served = await loading.catch(() => null);
      if (!served) continue;
      for (const id of eviction.versionIds) if (served.adapters.evict(`${eviction.tenantId}/${id}`)) dropped.adapters++;
      for (const blob of eviction.artifactBlobs)
        if (served.compositions.evict(`${eviction.tenantId}/${blob}`)) dropped.artifacts++;
      dropped.slots += served.pool.evict(isStale);
      // Cached prompt blocks computed with them (keyed by the same slot ids).
      dropped.prefixBlocks += served.scheduler.dropCachedPrefixes(isStale);
    }
    return dropped;
  }

  async handle(job: Job<InferJobData>): Promise<void> {
    const request = job.data;
    const controller = new AbortController();
    this.running.set(request.requestId, controller);
    try {
      await this.serve(request, controller.signal);
    } catch (error) {
      // A chat template refused as the model loads (one stored before the limits existed) is the tenant's too.
      const bad = error instanceof BadRequest || error instanceof ChatTemplateError;
      // A model too large for this worker is said as such (its size and the memory available), not hidden.
      const said = bad || error instanceof ModelDoesNotFit;
      if (!bad) this.deps.log(`infer ${request.requestId}: ${(error as Error).message}`);
      await this.deps.publish(request.requestId, {
        type: 'error',
        status: bad ? 400 : 500,
        message: said ? (error as Error).message : 'the inference worker failed; try again',
      });
    } finally {
      this.running.delete(request.requestId);
    }
  }

  private async serve(request: InferJobData, signal: AbortSignal): Promise<void> {
    const served = await this.model(request);
    const { model, scheduler } = served;
    let prompt: number[];
    try {
      prompt = model.tokenizer.encode(
        request.input.kind === 'text'
          ? request.input.text
          : model.tokenizer.chatTemplate.render(request.input.messages, {
              addGenerationPrompt: true,
              ...(request.input.tools ? { tools: request.input.tools } : {}),
            }),
      );
    } catch (error) {
      // A template over its limits stops here, after at most its time limit: this request fails, no other.
      const what =
        error instanceof ChatTemplateError
          ? `${model.name}'s chat template cannot render these messages`
          : `the input cannot be read by ${model.name}'s tokenizer`;
      throw new BadRequest(`${what}: ${(error as Error).message}`);
    }
    if (prompt.length === 0) throw new BadRequest('the prompt is empty');
    const outside = Object.keys(request.logitBias ?? {}).find((id) => Number(id) >= model.config.vocabSize);
    if (outside !== undefined)
      throw new BadRequest(
        `logit_bias names token ${outside}; ${model.name}'s vocabulary has ${model.config.vocabSize} tokens`,
      );
    const context = model.config.maxPositions;
    if (prompt.length + request.maxTokens > context) {
      throw new BadRequest(
        `the prompt's ${prompt.length} tokens and max_tokens ${request.maxTokens} exceed ${model.name}'s context of ${context} tokens`,
      );
    }

    const chosen =
      request.router === 'centroid'
        ? await this.route(request, scheduler, prompt)
        : request.adapters.map((a) => ({ ...a, weight: a.weight ?? 1, score: undefined }));
    await this.deps.publish(request.requestId, { type: 'routing', adapters: chosen, promptTokens: prompt.length });
    const { adapters, tokenRouting } = await this.requestAdapters(request, served, chosen);
    if (adapters.length >= this.deps.slots + 1)
      throw new BadRequest(
        `the request routes over ${adapters.length} adapters; this worker holds ${this.deps.slots} at once (INFER_SLOTS)`,
      );
    const grammar = request.structured ? structuredGrammar(request.structured) : undefined;
    if (grammar && shortestLength(grammar) > request.maxTokens)
      throw new BadRequest(
        `max_tokens ${request.maxTokens} is below the ${shortestLength(grammar)} tokens of the shortest JSON the response format allows`,
      );
    const events = new EventPublisher((event) => this.deps.publish(request.requestId, event));
    // n choices run as n rows of the batch, each with its own seed.
    const choices = Array.from({ length: request.n ?? 1 }, (_, index) => index);
    const results = await Promise.all(
      choices.map(async (index) => {
        const result = await scheduler.generate({
          prompt,
          adapters,
          ...(tokenRouting ? { tokenRouting } : {}),
          returnGates: index === 0 && Boolean(request.returnGates || tokenRouting),
          ...(request.logprobs !== undefined ? { logprobs: request.logprobs } : {}),
          ...(grammar ? { constraint: new JsonConstraint(grammar, model.tokenizer) } : {}),
          maxTokens: request.maxTokens,
          sampling: {
            temperature: request.temperature,
            ...(request.topP !== undefined ? { topP: request.topP } : {}),
            ...(request.seed !== undefined || index > 0 ? { seed: (request.seed ?? 0) + index } : {}),
            ...(request.presencePenalty !== undefined ? { presencePenalty: request.presencePenalty } : {}),
            ...(request.frequencyPenalty !== undefined ? { frequencyPenalty: request.frequencyPenalty } : {}),
            ...(request.logitBias ? { logitBias: request.logitBias } : {}),
          },
          stop: request.stop,
          // Cached prompt prefixes are shared within a tenant only.
          cacheScope: request.tenantId,
          signal,
          onToken: (_token, text) => {
            if (text) events.text(index, text);
          },
        });
        return { index, result };
      }),
    );
    for (const { index, result } of results) {
      if (result.finishReason === 'cancelled' && index === 0)
        this.deps.log(`infer ${request.requestId}: cancelled by the client after ${result.tokens.length} tokens`);
      events.event(this.doneEvent(request, model, prompt, chosen, index, result));
    }
    await events.flushed();
  }

  /** A choice's end: its finish reason and token count, and for choice 0 the per-token gates. */
  private doneEvent(
    request: InferJobData,
    model: TrainingModel,
    prompt: number[],
    chosen: unknown[],
    index: number,
    result: GenerateResult,
  ): InferEvent {
    const finishReason =
      result.finishReason === 'length' ? 'length' : result.finishReason === 'cancelled' ? 'cancelled' : 'stop';
    const read = [...prompt, ...result.tokens].slice(0, result.gates?.length ?? 0);
    const gates = result.gates ?? [];
    // Per-token routers: each adapter's weight is its mean gate over the tokens read (merged: the one slot stands for all members).
    const tokenGates =
      result.gates && request.router !== 'merged'
        ? {
            tokens: request.returnGates ? read.map((t) => model.tokenizer.decode([t])) : [],
            gates: request.returnGates ? gates : [],
            weights: chosen.map((_, j) => gates.reduce((sum, row) => sum + row[j]!, 0) / Math.max(1, gates.length)),
          }
        : undefined;
    return {
      type: 'done',
      ...(index ? { index } : {}),
      finishReason,
      completionTokens: result.tokens.length,
      ...(tokenGates ? { tokenGates } : {}),
      ...(result.logprobs
        ? {
            logprobs: result.logprobs.map(({ token, logprob, top }) => ({
              token: model.tokenizer.decode([token]),
              logprob,
              top: top.map((t) => ({ token: model.tokenizer.decode([t.token]), logprob: t.logprob })),
            })),
          }
        : {}),
    };
  }

  /**
   * What the scheduler runs: adapter versions from the host cache; a merged composition's
   * one adapter; a learned gate's members carrying their router vectors (slots keyed by
   * composition, as the same adapter routes differently in another gate).
   */
  private async requestAdapters(
    request: InferJobData,
    served: ServedModel,
    chosen: { versionId: string; weight: number }[],
  ): Promise<{ adapters: RequestAdapter[]; tokenRouting?: GenerateRequest['tokenRouting'] }> {
    const tenant = request.tenantId;
    const composition = request.composition;
    if (request.router === 'merged' || request.router === 'learned_gate') {
      if (!composition?.artifactBlob) throw new BadRequest('the request names no built composition');
      const artifact = await served.compositions.get(`${tenant}/${composition.artifactBlob}`);
      if (artifact.kind === 'merged')
        return { adapters: [{ id: `cmp/${composition.id}`, load: () => artifact.adapter }] };
      const adapters = chosen.map((a, j) => ({
        id: `cmp/${composition.id}/${a.versionId}`,
        load: async () => ({
          ...(await served.adapters.get(`${tenant}/${a.versionId}`)),
          routers: artifact.routers[j]!,
        }),
      }));
      return { adapters, tokenRouting: { kind: 'learned' } };
    }
    const adapters = chosen.map((a) => ({
      id: a.versionId,
      weight: a.weight,
      load: () => served.adapters.get(`${tenant}/${a.versionId}`),
    }));
    return request.router === 'arrow'
      ? { adapters, tokenRouting: { kind: 'arrow', topK: request.topK ?? 2 } }
      : { adapters };
  }

  /** `auto`: the candidates' training centroids against the prompt's pooled base-model state. */
  private async route(request: InferJobData, scheduler: BatchScheduler, prompt: number[]) {
    const ids = request.adapters.map((a) => a.versionId);
    const rows = await this.deps.database.withTenant(request, (tx) =>
      tx.adapterVersion.findMany({
        where: { tenantId: request.tenantId, id: { in: ids } },
        select: { id: true, centroid: true },
      }),
    );
    const centroids = new Map(rows.filter((r) => r.centroid).map((r) => [r.id, decodeCentroid(r.centroid!)]));
    // Uploaded adapters have no centroid: the router cannot place them.
    const keys = request.adapters
      .filter((a) => centroids.has(a.versionId))
      .map((a) => ({ id: a.versionId, centroid: centroids.get(a.versionId)! }));
    if (keys.length === 0) return [];
    const byVersion = new Map<string, InferAdapter>(request.adapters.map((a) => [a.versionId, a]));
    const routed = routeByCentroid(await scheduler.pooledHidden(prompt), keys, { topK: request.topK ?? 1 });
    return routed.map((r) => ({ ...byVersion.get(r.id)!, weight: r.weight, score: r.score }));
  }

  private model(request: InferJobData): Promise<ServedModel> {
    let served = this.served.get(request.baseModelId);
    if (!served) {
      served = this.load(request);
      this.served.set(request.baseModelId, served);
      served.catch(() => this.served.delete(request.baseModelId));
    }
    return served;
  }

  private async load(request: InferJobData): Promise<ServedModel> {
    const { database, maxRank } = this.deps;
    const row = await database.withTenant(request, (tx) =>
      tx.baseModel.findFirstOrThrow({ where: { id: request.baseModelId } }),
    );
    const model = await this.deps.models.load(row, 'serve');
    const modules = targetModules(model.config);
    // Router inputs in every projection: any request may route per token (Arrow or a learned gate).
    // Steps where no request does (most of them) run a second session without them. Of the two,
    // the one that runs most packs its weights for fast GEMMs; the other reads the mapped file
    // in place (fp32: no second copy of the weights).
    // Quantized weights are packed by every session that uses them: a second session would hold them twice.
    // Both skip the LoRA products of projections no adapter of a step adapts (per-layer placements),
    // on CPU: the If nodes that skip them are measured there only (bench/results/placement.json);
    // a GPU provider without an If kernel would copy each projection's inputs to the host.
    const skipUntouched = this.deps.executionProvider === 'cpu';
    const quantized = model.weights instanceof WeightFile && model.weights.precision !== 'fp32';
    const fixedGates = this.deps.fixedGatesSession && !quantized;
    const sessionOptions = { threads: this.deps.threads, executionProvider: this.deps.executionProvider };
    const session = await DecoderSession.load(model.config, model.weights, {
      ...sessionOptions,
      lora: { modules, rank: maxRank, router: true, skipUntouched },
      shareWeights: fixedGates,
    });
    const fixedGatesSession = fixedGates
      ? await DecoderSession.load(model.config, model.weights, {
          ...sessionOptions,
          lora: { modules, rank: maxRank, skipUntouched },
        })
      : undefined;
    // Keyed by tenant and version: one model serves many tenants.
    const adapters = new AdapterCache(this.deps.adapterCacheBytes, (key) =>
      this.readAdapter(key.split('/')[0]!, key.split('/')[1]!),
    );
    const pool = new SlotPool(model.config, {
      slots: this.deps.slots + 1,
      rank: maxRank,
      modules,
      router: true,
      // A slot is the one copy of its adapter: the host cache lets go of the version it holds
      // (slot ids end with the version id, and version ids are unique across tenants).
      onLoaded: (slotId) => {
        const version = slotId.split('/').at(-1)!;
        for (const key of adapters.ids()) if (key.endsWith(`/${version}`)) adapters.evict(key);
      },
    });
    const scheduler = new BatchScheduler(session, pool, model.tokenizer, {
      maxBatch: this.deps.maxBatch,
      prefillChunk: 128,
      maxBatchTokens: 1024,
      // 0: the scheduler's default, maxBatch full contexts.
      kvCache: this.deps.kvCacheTokens ? { budgetTokens: this.deps.kvCacheTokens } : {},
      prefixCache: this.deps.prefixCache,
      ...(fixedGatesSession ? { fixedGatesSession } : {}),
    });
    const compositions = new ArtifactCache(async (key) => {
      const [tenantId, blob] = key.split('/') as [string, string];
      const artifact = readCompositionArtifact(await this.deps.blobs.forTenant(tenantId).get(blob));
      if (artifact.kind === 'merged' && artifact.adapter.rank > maxRank)
        throw new BadRequest(
          `the merged composition's rank ${artifact.adapter.rank} exceeds this worker's INFER_MAX_RANK ${maxRank}`,
        );
      return artifact;
    });
    this.deps.log(`serving ${model.name} (${row.id}): ${this.deps.slots} adapter slots of rank ≤ ${maxRank}`);
    return { model, scheduler, pool, adapters, compositions };
  }

  /** An adapter version's weights from its tenant's blob store (version ids are unique across tenants). */
  private async readAdapter(tenantId: string, versionId: string): Promise<LoraAdapter> {
    const row = await this.deps.database.withTenant({ tenantId }, (tx) =>
      tx.adapterVersion.findFirstOrThrow({ where: { id: versionId, tenantId } }),
    );
    if (!row.weightsBlob) throw new BadRequest(`adapter version ${versionId} has no weights (status ${row.status})`);
    if (row.rank > this.deps.maxRank)
      throw new BadRequest(`the adapter's rank ${row.rank} exceeds this worker's INFER_MAX_RANK ${this.deps.maxRank}`);
    const weights = await this.deps.blobs.forTenant(tenantId).get(row.weightsBlob);
    return readPeftAdapter({ config: { peft_type: 'LORA', r: row.rank, lora_alpha: row.alpha }, weights });
  }
}
