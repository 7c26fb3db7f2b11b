import { Tokenizer as HfTokenizerModel } from '@huggingface/tokenizers';
import { ChatTemplate } from './chat-template.js';
import type { Tokenizer } from './tokenizer.js';
import { windowedStreamDecoder } from './windowed-stream-decoder.js';

/** tokenizer.json and tokenizer_config.json of a Hugging Face checkpoint, parsed. */
export interface HfTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

/** An imported checkpoint's tokenizer, through @huggingface/tokenizers, with its chat template. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly endOfText: number;
  readonly chatTemplate: ChatTemplate;
  private readonly model: HfTokenizerModel;
  private readonly pieces: (string | undefined)[] = [];
  private readonly special = new Set<number>();
  private readonly byteLevel: boolean;
  private bytesOfTokens?: (Uint8Array | undefined)[];

  constructor(files: HfTokenizerFiles) {
    this.model = new HfTokenizerModel(files.tokenizer, files.config);
    const vocab = (files.tokenizer.model as { vocab?: Record<string, number> | unknown[] } | undefined)?.vocab;
    const added =
      (files.tokenizer.added_tokens as { id: number; content: string; special?: boolean }[] | undefined) ?? [];
    if (Array.isArray(vocab)) vocab.forEach((entry, id) => (this.pieces[id] = (entry as [string, number])[0]));
    else for (const [piece, id] of Object.entries(vocab ?? {})) this.pieces[id as number] = piece;
    for (const token of added) {
      this.pieces[token.id] = token.content;
      if (token.special) this.special.add(token.id);
    }
    this.byteLevel = JSON.stringify(files.tokenizer.decoder ?? null).includes('"ByteLevel"');
    const ids = [
      ...(Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab ?? {})),
      ...added.map((t) => t.id),
    ];
    // reduce, not Math.max(...ids): a large vocabulary spread as arguments overflows the stack.
    this.vocabSize = ids.reduce((max, id) => Math.max(max, id), -1) + 1;
    const eos = tokenText(files.config.eos_token);
    const eosId = eos === undefined ? undefined : this.model.token_to_id(eos);
    if (eosId === undefined)
      throw new Error(
        `tokenizer_config.json: eos_token ${eos === undefined ? 'is missing' : `"${eos}" is not in the vocabulary`}`,
      );
    this.endOfText = eosId;
    const template = files.config.chat_template;
    if (template !== undefined && typeof template !== 'string')
      throw new Error('tokenizer_config.json: only a single-string chat_template is supported');
    this.chatTemplate = new ChatTemplate(template, {
      ...(tokenText(files.config.bos_token) !== undefined ? { bos_token: tokenText(files.config.bos_token)! } : {}),
      eos_token: eos!,
    });
  }

  encode(text: string): number[] {
    return this.model.encode(text).ids;
  }

  /**
   * Special tokens are skipped. Clean-up of tokenization spaces (" ." → ".", " 's" → "'s") is not
   * applied, whatever tokenizer_config.json says: a stream cannot take back a space it has sent, so
   * the whole text would differ from the streamed one (the Rust tokenizers behind TGI skip it too).
   */
  decode(tokens: readonly number[]): string {
    if (tokens.length === 0) return '';
    return this.model.decode([...tokens], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /**
   * From the vocabulary's pieces: byte-level BPE writes each byte as one character of GPT-2's
   * byte-to-unicode table; SentencePiece writes spaces as ▁ and bytes it has no piece for as <0xNN>.
   */
  tokenBytes(token: number): Uint8Array | undefined {
    this.bytesOfTokens ??= this.pieces.map((piece, id) => {
      if (piece === undefined || this.special.has(id)) return undefined;
      if (this.byteLevel) return byteLevelBytes(piece);
      const fallback = /^<0x([0-9A-F]{2})>$/.exec(piece);
      return fallback
        ? Uint8Array.of(parseInt(fallback[1]!, 16))
        : new TextEncoder().encode(piece.replaceAll('▁', ' '));
    });
    return this.bytesOfTokens[token];
  }

  streamDecoder(): (token: number) => string {
    return windowedStreamDecoder((tokens) => this.decode(tokens));
  }
}

/** tokenizer_config.json names special tokens as strings or as AddedToken objects. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string')
    return (value as { content: string }).content;
  return undefined;
}

/** GPT-2's table from bytes to printable characters, inverted: printable ASCII and Latin-1 stand for themselves, the rest from U+0100 on. */
const BYTE_OF_CHARACTER: ReadonlyMap<number, number> = (() => {
  const table = new Map<number, number>();
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable =
      (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    table.set(printable ? byte : 256 + shifted++, byte);
  }
  return table;
})();

/** A byte-level piece's bytes; none where a character is outside the table (an added token written as text). */
function byteLevelBytes(piece: string): Uint8Array | undefined {
  const bytes: number[] = [];
  for (const character of piece) {
    const byte = BYTE_OF_CHARACTER.get(character.codePointAt(0)!);
    if (byte === undefined) return new TextEncoder().encode(piece);
    bytes.push(byte);
  }
  return Uint8Array.from(bytes);
}
