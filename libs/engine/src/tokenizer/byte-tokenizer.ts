import { ChatTemplate } from './chat-template.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The built-in tokenizer of the small demo models: one token per UTF-8 byte (0–255) and
 * one end-of-text token (256). Nothing to train or ship, and every string round-trips.
 */
export class ByteTokenizer implements Tokenizer {
  static readonly END_OF_TEXT = 256;
  readonly vocabSize = 257;
  readonly endOfText = ByteTokenizer.END_OF_TEXT;
  readonly chatTemplate = new ChatTemplate();

  encode(text: string): number[] {
    return Array.from(new TextEncoder().encode(text));
  }

  decode(tokens: readonly number[]): string {
    return new TextDecoder().decode(Uint8Array.from(tokens.filter((t) => t < 256)));
  }

  tokenBytes(token: number): Uint8Array | undefined {
    return token < 256 ? Uint8Array.of(token) : undefined;
  }

  /** A decoder for a token stream: a character split across tokens is emitted once whole. */
  streamDecoder(): (token: number) => string {
    const decoder = new TextDecoder();
    return (token) => (token < 256 ? decoder.decode(Uint8Array.of(token), { stream: true }) : '');
  }
}
