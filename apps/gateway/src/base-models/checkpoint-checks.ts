import { indexShardFiles, type CheckpointIndex, type ProblemFieldError } from '@tessera/contracts';
import {
  ChatTemplateError,
  HfTokenizer,
  readSafetensorsHeader,
  shardReader,
  type ChatMessage,
  type DecoderConfig,
  type ShardSource,
} from '@tessera/engine/formats';
import { ProblemException } from '../common/problem.exception.js';

/** The one shard of a checkpoint without model.safetensors.index.json. */
export const SINGLE_SHARD = 'model.safetensors';

/** How many problems a 400 lists (all are counted). */
const MAX_LISTED_PROBLEMS = 50;

/**
 * What a chat template must render, under its limits, to be kept: the worker renders templates
 * for every tenant's requests, so one that loops or balloons is refused here. Plain alternating
 * turns, no system message: templates commonly refuse anything else.
 */
const SAMPLE_CONVERSATION: ChatMessage[] = [
  { role: 'user', content: 'Hello!' },
  { role: 'assistant', content: 'Hi. How can I help?' },
  { role: 'user', content: 'Tell me a joke.' },
];

/**
 * What is wrong with tokenizer.json (and tokenizer_config.json) for a model, or null: its ids
 * must fit the vocabulary, and its chat template must render a sample conversation within its limits.
 */
export function tokenizerProblem(
  config: DecoderConfig,
  tokenizer: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown> | undefined,
): ProblemFieldError | null {
  try {
    const loaded = new HfTokenizer({ tokenizer, config: tokenizerConfig ?? {} });
    if (loaded.vocabSize > config.vocabSize)
      return {
        field: 'tokenizer',
        message: `the tokenizer has ${loaded.vocabSize} ids, the model's vocabulary ${config.vocabSize}`,
      };
    loaded.chatTemplate.render(SAMPLE_CONVERSATION, { addGenerationPrompt: true });
    return null;
  } catch (error) {
    const field = error instanceof ChatTemplateError ? 'tokenizer_config.chat_template' : 'tokenizer';
    return { field, message: (error as Error).message };
  }
}

/**
 * Everything wrong with a whole checkpoint, read from its shards' headers only (no tensor
 * data): shards the index names but that are missing, shards it does not name, tensors in
 * another shard than the index says, and then the worker's own reading (shardReader): bad
 * headers, ranges outside a file, dtypes other than F32/F16/BF16, missing, unexpected and
 * misshapen tensors. Empty when a worker will load it.
 */
export async function checkpointProblems(
  config: DecoderConfig,
  index: CheckpointIndex | null,
  shards: ShardSource[],
): Promise<ProblemFieldError[]> {
  const problems: ProblemFieldError[] = [];
  const expected = index ? indexShardFiles(index) : [SINGLE_SHARD];
  const present = new Set(shards.map((shard) => shard.name));
  for (const file of expected) {
    if (present.has(file)) continue;
    problems.push(
      index
        ? { field: 'model.safetensors.index.json', message: `the index names shard ${file}, which is missing` }
        : {
            field: 'shards',
            message: `${SINGLE_SHARD} is missing (without model.safetensors.index.json it is the checkpoint)`,
          },
    );
  }
  const named = shards.filter((shard) => expected.includes(shard.name));
  for (const shard of shards) {
    if (named.includes(shard)) continue;
    problems.push({
      field: `shards.${shard.name}`,
      message: index
        ? `${shard.name} is not a shard the index names`
        : `${shard.name}: without model.safetensors.index.json the checkpoint is one ${SINGLE_SHARD}`,
    });
  }
  if (index) problems.push(...(await placementProblems(index, named)));
  const { problems: tensorProblems } = await shardReader(config, named);
  problems.push(...tensorProblems.map((message) => ({ field: 'checkpoint', message })));
  return problems;
}

/** Tensors the index puts in one shard but that sit in another, or in none. */
async function placementProblems(index: CheckpointIndex, shards: ShardSource[]): Promise<ProblemFieldError[]> {
  const field = 'model.safetensors.index.json';
  const problems: ProblemFieldError[] = [];
  for (const shard of shards) {
    const header = await readSafetensorsHeader(shard);
    for (const name of header.tensors.keys()) {
      const placed = index.weight_map[name];
      if (placed === undefined)
        problems.push({ field, message: `tensor ${name} (in ${shard.name}) is not in the index` });
      else if (placed !== shard.name)
        problems.push({ field, message: `tensor ${name} is in ${shard.name}, the index puts it in ${placed}` });
    }
    // A shard whose header is broken is reported once, by shardReader, not tensor by tensor here.
    if (header.problems.length) continue;
    for (const [name, file] of Object.entries(index.weight_map)) {
      if (file === shard.name && !header.tensors.has(name))
        problems.push({ field, message: `the index puts tensor ${name} in ${file}, which does not hold it` });
    }
  }
  return problems;
}

/** A 400 listing what is wrong with a checkpoint (the first MAX_LISTED_PROBLEMS, and how many more). */
export function checkpointRefused(detail: string, problems: ProblemFieldError[]): ProblemException {
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  if (problems.length > listed.length)
    listed.push({ field: 'checkpoint', message: `and ${problems.length - listed.length} more problems` });
  return new ProblemException('validation', `${detail} (${problems.length} problems)`, listed);
}
