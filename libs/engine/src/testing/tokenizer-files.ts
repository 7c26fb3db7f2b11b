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
