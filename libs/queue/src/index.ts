import { Queue, type ConnectionOptions } from 'bullmq';

/** The BullMQ queues of DESIGN.md §1. */
export const QUEUES = {
  /** Fine-tune (and later retrain) jobs: payload TrainJobData. */
  train: 'train',
  compose: 'compose',
  webhooks: 'webhooks',
} as const;

/** What a `compose` job carries: the composition to build (its row holds the method, members and params). */
export interface ComposeJobData {
  jobId: string;
  tenantId: string;
  compositionId: string;
}

/** One queue per base model's inference workers. */
export function inferQueue(baseModel: string): string {
  return `infer.${baseModel}`;
}

export * from './blob-sweep.js';
export * from './cache-eviction.js';
export * from './queue-entries.js';
export * from './redis-outage.js';
export * from './worker-registry.js';

/**
 * The job names on the `train` queue, shared by the gateway (which adds them) and the worker
 * (which dispatches on them): a fine-tune (or one partition of one), a partitioned
 * fine-tune's parent, a deletion.
 */
export const TRAIN_JOB_NAMES = ['fine_tune', 'partitioned', 'deletion'] as const;
export type TrainJobName = (typeof TRAIN_JOB_NAMES)[number];

/** What a `train` job carries: Postgres holds the rest (the job row is the source of truth). */
export interface TrainJobData {
  jobId: string;
  tenantId: string;
}

/** An adapter version an inference request may run on, as the gateway resolved it (access checked). */
export interface InferAdapter {
  adapterId: string;
  versionId: string;
  name: string;
  version: number;
  /** Mixture weight; unset for `auto` candidates (the router weighs them). */
  weight?: number;
}

/**
 * One inference request on the `infer.<base model>` queue. `adapters` are what the request
 * runs on (empty: the base model); for `auto` they are the candidates the worker routes
 * among. Tokens stream back on inferEventChannel(prefix, requestId).
 */
export interface InferJobData {
  requestId: string;
  tenantId: string;
  baseModelId: string;
  input:
    | { kind: 'text'; text: string }
    | {
        kind: 'chat';
        messages: { role: 'system' | 'user' | 'assistant' | 'tool'; content: string }[];
        /** The request's tools, as OpenAI declares them, for chat templates that write them into the prompt. */
        tools?: unknown[];
      };
  mode: 'base' | 'adapter' | 'mixture' | 'token' | 'auto';
  adapters: InferAdapter[];
  topK?: number;
  /**
   * How weights are set: fixed (given; adapter and mixture), centroid (auto, per request),
   * arrow (token, or auto per token), learned_gate (a composition's trained gate over
   * `adapters`, its members), merged (`adapters` is the one merged composition).
   */
  router: 'fixed' | 'centroid' | 'arrow' | 'learned_gate' | 'merged';
  /** A composition the request runs: its artifact is the merged adapter or the gate's router vectors. */
  composition?: { id: string; name: string; version: number; method: string; artifactBlob: string | null };
  returnGates?: boolean;
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Token id → bias added to its logit. */
  logitBias?: Record<number, number>;
  /** Report each generated token's log-probability and this many alternatives (0–20). */
  logprobs?: number;
  stop: string[];
  /** Choices to generate, each a row of the batch with seed + index (default 1). */
  n?: number;
  /** Structured output: the JSON Schema every choice must validate against; without one, any JSON object. */
  structured?: { schema?: unknown };
}

/** What a worker publishes for a request, in order: routing, tokens, then done or error. */
export type InferEvent =
  | {
      type: 'routing';
      adapters: {
        adapterId: string;
        versionId: string;
        name: string;
        version: number;
        weight: number;
        score?: number;
      }[];
      promptTokens: number;
    }
  /** index: the choice (0 when absent); each choice ends with its own done. */
  | { type: 'token'; text: string; index?: number }
  | {
      type: 'done';
      index?: number;
      finishReason: 'stop' | 'length' | 'cancelled';
      completionTokens: number;
      tokenGates?: { tokens: string[]; gates: number[][]; weights: number[] };
      /** With logprobs: one per generated token, its text, log-probability and the top alternatives. */
      logprobs?: { token: string; logprob: number; top: { token: string; logprob: number }[] }[];
    }
  | { type: 'error'; message: string; status: 400 | 500 };

export function inferEventChannel(prefix: string, requestId: string): string {
  return `${prefix}:infer-events:${requestId}`;
}

/** Gateways publish a request id here when its client went away; workers stop generating it. */
export function inferCancelChannel(prefix: string): string {
  return `${prefix}:infer-cancel`;
}

/** Inference is not retried: a half-streamed answer cannot be resumed, the client is told instead. */
export const INFER_JOB_OPTIONS = { attempts: 1, removeOnComplete: true, removeOnFail: 1000 } as const;

export function inferQueueFor(
  connection: ConnectionOptions,
  baseModelId: string,
  prefix = 'bull',
): Queue<InferJobData> {
  return new Queue<InferJobData>(inferQueue(baseModelId), { connection, prefix });
}

/** One delivery attempt of a webhook: attempt n of the delivery's retry schedule. */
export interface WebhookJobData {
  deliveryId: string;
  tenantId: string;
  attempt: number;
}

/**
 * BullMQ connection settings from a redis:// URL. `maxRetriesPerRequest: null` is what
 * BullMQ's blocking commands require (workers would otherwise fail when Redis blips).
 */
export function redisConnection(url: string): ConnectionOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/**
 * Retries for transient failures (a lost connection, a restarted worker): exponential
 * backoff from 2 s. Bad input fails at once (the worker throws UnrecoverableError).
 */
export const TRAIN_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: 1000,
  removeOnFail: 5000,
} as const;

/** `prefix` namespaces every queue's Redis keys (BullMQ's default is `bull`): one Redis can hold separate deployments or test runs. */
export function trainQueue(connection: ConnectionOptions, prefix = 'bull'): Queue<TrainJobData, unknown, TrainJobName> {
  return new Queue<TrainJobData, unknown, TrainJobName>(QUEUES.train, { connection, prefix });
}

export function composeQueue(connection: ConnectionOptions, prefix = 'bull'): Queue<ComposeJobData> {
  return new Queue<ComposeJobData>(QUEUES.compose, { connection, prefix });
}

export function webhookQueue(connection: ConnectionOptions, prefix = 'bull'): Queue<WebhookJobData> {
  return new Queue<WebhookJobData>(QUEUES.webhooks, { connection, prefix });
}

/** Standard Webhooks' schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const STANDARD_RETRY_SCHEDULE_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
