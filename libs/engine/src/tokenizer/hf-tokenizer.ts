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

  constructor(files: HfTokenizerFiles) {
    this.model = new HfTokenizerModel(files.tokenizer, files.config);
    const vocab = (files.tokenizer.model as { vocab?: Record<string, number> | unknown[] } | undefined)?.vocab;
    const added = (files.tokenizer.added_tokens as { id: number }[] | undefined) ?? [];
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
