import type { ChatTemplate } from './chat-template.js';

/** What the engine needs of a tokenizer: the built-in byte tokenizer and imported ones alike. */
export interface Tokenizer {
  readonly vocabSize: number;
  /** The token that ends a generation. */
  readonly endOfText: number;
  readonly chatTemplate: ChatTemplate;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
  /** The bytes a token stands for in decoded text; none for special tokens (structured output never writes them). */
  tokenBytes(token: number): Uint8Array | undefined;
  /** A decoder for a token stream: text is emitted once it is complete (no half characters). */
  streamDecoder(): (token: number) => string;
}
