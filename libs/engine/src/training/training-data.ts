import { ChatTemplateError, type ChatMessage } from '../tokenizer/chat-template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/** One training record, in any of the three dataset formats. */
export type TrainingRecord = { text: string } | { prompt: string; completion: string } | { messages: ChatMessage[] };

/** A tokenized example: `counted[i]` says whether predicting tokens[i] counts toward the loss. */
export interface TokenizedExample {
  tokens: number[];
  counted: boolean[];
}

/** Fixed-length training rows: inputs [T], their next tokens [T], and which of those count. */
export interface PackedSequence {
  inputs: number[];
  targets: number[];
  lossMask: number[];
  /** Each input's position id [T]. */
  positions: number[];
  /** Each input's document within the row [T]: attention stays within one (all 0 when packed across documents). */
  segments: number[];
}

/**
 * How examples share a row. `document_masked` (TRL's padding-free packing): each document
 * attends only to itself, its positions start at 0 and its first token is no target, so a
 * document trains as it is served, alone. `cross_document` (GPT-style): the row is one text,
 * positions run across documents and each predicts the next document's first token.
 */
export type Packing = 'document_masked' | 'cross_document';
export const PACKINGS: readonly Packing[] = ['document_masked', 'cross_document'];

const ROLES = new Set(['system', 'user', 'assistant']);

/** Why a record is not a training record, or null when it is. */
export function recordProblem(record: unknown): string | null {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return 'expected a JSON object';
  const r = record as Record<string, unknown>;
  if ('text' in r) return typeof r.text === 'string' && r.text.length > 0 ? null : '"text" must be a non-empty string';
  if ('prompt' in r || 'completion' in r) {
    if (typeof r.prompt !== 'string') return '"prompt" must be a string';
    return typeof r.completion === 'string' && r.completion.length > 0
      ? null
      : '"completion" must be a non-empty string';
  }
  if ('messages' in r) {
    if (!Array.isArray(r.messages) || r.messages.length === 0) return '"messages" must be a non-empty array';
    for (const [i, message] of r.messages.entries()) {
      const m = message as Record<string, unknown>;
      if (typeof m !== 'object' || m === null || !ROLES.has(m.role as string) || typeof m.content !== 'string') {
        return `messages[${i}] must be {role: system|user|assistant, content: string}`;
      }
    }
    if (!r.messages.some((m) => (m as ChatMessage).role === 'assistant'))
      return '"messages" has no assistant turn to learn from';
    return null;
  }
  return 'expected "text", "prompt" + "completion", or "messages"';
}

/** Parses JSONL training data; every bad line is reported by number and reason. */
export function parseTrainingJsonl(jsonl: string): TrainingRecord[] {
  const records: TrainingRecord[] = [];
  const problems: string[] = [];
  jsonl.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      problems.push(`line ${index + 1}: not valid JSON`);
      return;
    }
    const problem = recordProblem(parsed);
    if (problem) problems.push(`line ${index + 1}: ${problem}`);
    else records.push(parsed as TrainingRecord);
  });
  if (problems.length)
    throw new Error(
      `training data: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`,
    );
  if (records.length === 0) throw new Error('training data: no records');
  return records;
}

/**
 * Tokens and loss mask of one record, ending with end-of-text: all of `text`; only the
 * completion of a prompt/completion pair; of a chat, rendered with the tokenizer's chat
 * template, only what each assistant turn says and its end of turn (TRL's assistant_only_loss):
 * each turn's text is found by rendering the conversation up to and including it, so any
 * template works that renders prefixes consistently, and the turn's header (role tokens) is
 * what the template's generation prompt adds, which the model is given at inference, not asked for.
 */
export function tokenizeRecord(record: TrainingRecord, tokenizer: Tokenizer): TokenizedExample {
  const tokens: number[] = [];
  const counted: boolean[] = [];
  // A loop, not push(...ids): spreading a long record's ids as arguments overflows the stack.
  const append = (ids: readonly number[], count: boolean) => {
    for (const id of ids) {
      tokens.push(id);
      counted.push(count);
    }
  };
  if ('text' in record) append(tokenizer.encode(record.text), true);
  else if ('prompt' in record) {
    append(tokenizer.encode(record.prompt), false);
    append(tokenizer.encode(record.completion), true);
  } else {
    let rendered = '';
    record.messages.forEach((message, i) => {
      const upTo = tokenizer.chatTemplate.render(record.messages.slice(0, i + 1));
      if (!upTo.startsWith(rendered)) throw new Error('chat template does not render conversations prefix by prefix');
      const turn = upTo.slice(rendered.length);
      if (message.role === 'assistant') {
        const header = assistantHeader(tokenizer, record.messages.slice(0, i), rendered, turn);
        append(tokenizer.encode(header), false);
        append(tokenizer.encode(turn.slice(header.length)), true);
      } else append(tokenizer.encode(turn), false);
      rendered = upTo;
    });
  }
  // The end of a text, completion or reply is itself learned: it is how generation stops.
  append([tokenizer.endOfText], counted.at(-1) ?? true);
  return { tokens, counted };
}

/** Stands in for a reply's content to find where a template puts it: nothing a template or a reply would write. */
const CONTENT_MARKER = '\u0000tessera-reply\u0000';

/**
 * The text a template puts before an assistant turn's content: what rendering the conversation
 * before it adds with add_generation_prompt, when the turn begins with that (the usual case);
 * else what the template writes before a marker put in place of the content.
 */
function assistantHeader(tokenizer: Tokenizer, before: readonly ChatMessage[], rendered: string, turn: string): string {
  const prompted = generationPrompted(tokenizer, before);
  if (prompted?.startsWith(rendered)) {
    const generationPrompt = prompted.slice(rendered.length);
    if (turn.startsWith(generationPrompt)) return generationPrompt;
  }
  const marked = tokenizer.chatTemplate.render([...before, { role: 'assistant', content: CONTENT_MARKER }]);
  const at = marked.indexOf(CONTENT_MARKER, rendered.length);
  const header = at < 0 ? null : marked.slice(rendered.length, at);
  if (!marked.startsWith(rendered) || header === null || !turn.startsWith(header))
    throw new Error(
      'chat template: an assistant turn starts neither with the generation prompt nor with the same header whatever its content, so its header cannot be told from its reply',
    );
  return header;
}

/** The conversation rendered with the generation prompt; null where the template refuses it (e.g. no messages yet). */
function generationPrompted(tokenizer: Tokenizer, messages: readonly ChatMessage[]): string | null {
  try {
    return tokenizer.chatTemplate.render(messages, { addGenerationPrompt: true });
  } catch (error) {
    if (error instanceof ChatTemplateError && error.failure === 'render') return null;
    throw error;
  }
}

/**
 * Packs examples end to end into rows of `length` predictions: row i reads tokens
 * [i·L, i·L + L) and predicts [i·L + 1, i·L + L + 1). The first token of the stream is never
 * a target; the last row is padded with uncounted end-of-text tokens (a segment of their own).
 * Examples share rows, which keeps every token useful; `packing` says whether attention and
 * positions cross their boundaries. A document cut by a row's end goes on in the next row
 * from position 0 (a row is all the context there is).
 */
export function packExamples(
  examples: readonly TokenizedExample[],
  length: number,
  padToken: number,
  packing: Packing = 'cross_document',
): PackedSequence[] {
  // Concatenated, not pushed with spread arguments: one long example would overflow the stack.
  const stream = examples.flatMap((e) => e.tokens);
  const counts = examples.flatMap((e) => e.counted);
  // Which example each stream token belongs to; the padding after the stream counts as one more.
  const exampleAt = new Int32Array(stream.length);
  let offset = 0;
  for (const [index, example] of examples.entries()) {
    exampleAt.fill(index, offset, offset + example.tokens.length);
    offset += example.tokens.length;
  }
  const documentOf = (i: number) => (i < stream.length ? exampleAt[i]! : examples.length);
  const masked = packing === 'document_masked';
  const rows: PackedSequence[] = [];
  for (let start = 0; start + 1 < stream.length; start += length) {
    const inputs: number[] = [];
    const targets: number[] = [];
    const lossMask: number[] = [];
    const positions: number[] = [];
    const segments: number[] = [];
    let segmentStart = 0;
    for (let t = 0; t < length; t++) {
      const at = start + t;
      const real = at + 1 < stream.length;
      if (masked && t > 0 && documentOf(at) !== documentOf(at - 1)) segmentStart = t;
      inputs.push(at < stream.length ? stream[at]! : padToken);
      targets.push(real ? stream[at + 1]! : padToken);
      // Masked, the last token of a document sees nothing of the next, so its first token is no target.
      const crosses = masked && documentOf(at + 1) !== documentOf(at);
      lossMask.push(real && counts[at + 1] && !crosses ? 1 : 0);
      positions.push(t - segmentStart);
      segments.push(masked ? documentOf(at) - documentOf(start) : 0);
    }
    rows.push({ inputs, targets, lossMask, positions, segments });
  }
  return rows;
}

/** A deterministic permutation of 0..n-1 (Fisher–Yates with the given generator). */
export function shuffledIndices(n: number, random: () => number): number[] {
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Splits records into training and validation sets by a seeded shuffle (at least one of each when there are two). */
export function splitRecords<T>(
  records: readonly T[],
  validationFraction: number,
  random: () => number,
): { train: T[]; validation: T[] } {
  if (validationFraction <= 0 || records.length < 2) return { train: [...records], validation: [] };
  const order = shuffledIndices(records.length, random);
  const count = Math.min(records.length - 1, Math.max(1, Math.round(records.length * validationFraction)));
  return {
    validation: order.slice(0, count).map((i) => records[i]!),
    train: order.slice(count).map((i) => records[i]!),
  };
}
