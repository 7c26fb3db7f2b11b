// Tokenizer files for tests, written the way Hugging Face's tokenizers library writes them.

/** GPT-2's byte → printable character map (bytes_to_unicode), so vocab keys are as GPT-2 writes them. */
function byteToUnicode(): string[] {
  const printable = new Set<number>();
  for (const [from, to] of [
    [33, 126],
    [161, 172],
    [174, 255],
  ] as const)
    for (let b = from; b <= to; b++) printable.add(b);
  const map: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(printable.has(b) ? b : next++);
  return map;
}

/** A small byte-level BPE tokenizer.json (256 bytes, 5 merges, <|endoftext|> = 261), as the tokenizers library writes one. */
export function bpeTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteToUnicode().forEach((char, b) => (vocab[char] = b));
  const merges = ['h e', 'l l', 'he ll', 'Ġ w', 'o r'];
  for (const merge of merges) vocab[merge.replace(' ', '')] = Object.keys(vocab).length;
  const eos = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: eos,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/**
 * A small SentencePiece-style BPE tokenizer.json with byte fallback (<unk> 0, <s> 1, </s> 2, bytes
 * <0x00>–<0xFF> at 3–258, then pieces and merges; a character outside them is spelled in its UTF-8 bytes).
 * `llama`: as Llama 2's is written (normalizer prepends and writes spaces as ▁; the decoder turns ▁ back
 * into spaces, fuses bytes into characters and strips the text's first space; <s> added to every encoding).
 * `metaspace`: a Metaspace pre-tokenizer and decoder (the decoder drops the first token's leading space;
 * byte tokens decode as written, e.g. "<0xE2>").
 */
export function sentencePieceTokenizerJson(decoder: 'llama' | 'metaspace' = 'llama'): Record<string, unknown> {
  const specials = ['<unk>', '<s>', '</s>'];
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const chars = ['▁', ...'abcdefghijklmnopqrstuvwxyz', ...".,!'", 'é', '東', '京'];
  const merges = ['▁ t', 'h e', '▁t he', 'l l', 'e ll', 'ell o', '▁ h', '▁h ello', 'o r', '▁ w', '▁w or', '東 京'];
  const vocab: Record<string, number> = {};
  for (const piece of [...specials, ...bytes, ...chars]) vocab[piece] = Object.keys(vocab).length;
  for (const merge of merges) vocab[merge.replace(' ', '')] = Object.keys(vocab).length;
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    ...(decoder === 'llama'
      ? {
          normalizer: {
            type: 'Sequence',
            normalizers: [
              { type: 'Prepend', prepend: '▁' },
              { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
            ],
          },
          pre_tokenizer: null,
          post_processor: {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: '<s>', type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: '<s>', type_id: 1 } },
              { Sequence: { id: 'B', type_id: 1 } },
            ],
            special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
          },
          decoder: {
            type: 'Sequence',
            decoders: [
              { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
              { type: 'ByteFallback' },
              { type: 'Fuse' },
              { type: 'Strip', content: ' ', start: 1, stop: 0 },
            ],
          },
        }
      : { normalizer: null, pre_tokenizer: metaspace, post_processor: null, decoder: metaspace }),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges,
    },
  };
}
