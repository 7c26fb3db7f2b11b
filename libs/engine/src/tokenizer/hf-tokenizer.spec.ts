import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../testing/random.js';
import { bpeTokenizerJson, sentencePieceTokenizerJson } from '../testing/tokenizer-files.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { windowedStreamDecoder } from './windowed-stream-decoder.js';

/** The stream decoder the windowed one replaced, kept as the reference: the whole stream decoded for every token. */
function wholeStreamDecoder(decode: (tokens: readonly number[]) => string): (token: number) => string {
  const tokens: number[] = [];
  let emitted = 0;
  return (token) => {
    tokens.push(token);
    const text = decode(tokens);
    if (text.endsWith('\uFFFD') || text.length < emitted) return '';
    const piece = text.slice(emitted);
    emitted = text.length;
    return piece;
  };
}

const gpt2Json = bpeTokenizerJson();
const TOOL_TOKEN = 262; // an added token that is not special: decode keeps it, and it splits the byte-level text
gpt2Json.added_tokens = [
  ...(gpt2Json.added_tokens as object[]),
  {
    id: TOOL_TOKEN,
    content: '<tool>',
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: false,
  },
];

const llamaFiles = { bos_token: '<s>', eos_token: '</s>' };
// Each with the added tokens a stream may hold: special ones, which decode skips, and GPT-2's <tool>, which it keeps.
const TOKENIZERS = {
  'byte-level BPE (GPT-2)': {
    tokenizer: new HfTokenizer({ tokenizer: gpt2Json, config: { eos_token: '<|endoftext|>' } }),
    addedTokens: [261, TOOL_TOKEN],
  },
  'SentencePiece BPE with byte fallback (Llama 2)': {
    tokenizer: new HfTokenizer({ tokenizer: sentencePieceTokenizerJson('llama'), config: llamaFiles }),
    addedTokens: [0, 1, 2],
  },
  'SentencePiece BPE with a Metaspace decoder': {
    tokenizer: new HfTokenizer({ tokenizer: sentencePieceTokenizerJson('metaspace'), config: llamaFiles }),
    addedTokens: [0, 1, 2],
  },
};

// Words, spaces, and characters of 2, 3 and 4 UTF-8 bytes (one a joined sequence of several), which
// the test tokenizers spell in bytes, so they split across tokens.
const WORDS = [
  'hello',
  ' world',
  ' the',
  'the',
  ' ',
  '  ',
  '\n',
  'é',
  ' Zürich',
  '東京',
  ' 東',
  '京',
  '€',
  '🚀',
  '👩‍🚀',
  ' .',
  " 's",
  "n't",
  '!',
];

function randomText(random: () => number, words: number): string {
  return Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]).join('');
}

/**
 * Encoded text, with added tokens and tokens drawn from the whole vocabulary (lone bytes, halves of
 * characters) spliced in at random, ending in a plain word so the stream's last character is whole.
 */
function randomStream(
  { tokenizer, addedTokens }: (typeof TOKENIZERS)[keyof typeof TOKENIZERS],
  random: () => number,
): number[] {
  const tokens: number[] = [];
  for (let segment = 1 + Math.floor(random() * 6); segment > 0; segment--) {
    const encoded = tokenizer.encode(randomText(random, 1 + Math.floor(random() * 5)));
    if (random() < 0.5) {
      const interruption =
        random() < 0.6
          ? addedTokens[Math.floor(random() * addedTokens.length)]!
          : Math.floor(random() * tokenizer.vocabSize);
      encoded.splice(Math.floor(random() * (encoded.length + 1)), 0, interruption);
    }
    tokens.push(...encoded);
  }
  return [...tokens, ...tokenizer.encode(' end')];
}

describe('HfTokenizer stream decoding', () => {
  for (const [name, entry] of Object.entries(TOKENIZERS)) {
    const { tokenizer } = entry;
    it(`${name}: emits the pieces of decoding the whole stream each time, and in the end its whole text`, () => {
      let heldBack = 0;
      for (let seed = 0; seed < 150; seed++) {
        const tokens = randomStream(entry, seededRandom(seed));
        const next = tokenizer.streamDecoder();
        const reference = wholeStreamDecoder((t) => tokenizer.decode(t));
        let sent = '';
        tokens.forEach((token, i) => {
          const piece = next(token);
          assert.equal(piece, reference(token), `seed ${seed}, token ${i}`);
          sent += piece;
          const whole = tokenizer.decode(tokens.slice(0, i + 1));
          assert.ok(
            whole.startsWith(sent),
            `seed ${seed}, token ${i}: ${JSON.stringify(sent)} ⊄ ${JSON.stringify(whole)}`,
          );
          if (piece.includes('\uFFFD')) assert.ok(whole.includes('\uFFFD'), `seed ${seed}, token ${i}`);
          if (whole.length > sent.length) heldBack++;
        });
        assert.equal(sent, tokenizer.decode(tokens), `seed ${seed}`);
      }
      // The Metaspace decoder writes byte tokens as "<0xE2>", so only the others ever hold a piece back.
      if (!name.includes('Metaspace')) assert.ok(heldBack > 0, 'no stream held back half a character');
    });
  }

  // [what it shows, tokenizer, tokens, the pieces streamed for them]. GPT-2's first 256 ids are the bytes; 261 is <|endoftext|>.
  const cases: [string, keyof typeof TOKENIZERS, number[], string[]][] = [
    [
      'holds € (E2 82 AC) back until its last byte, across a skipped special token',
      'byte-level BPE (GPT-2)',
      [0x61, 0xe2, 261, 0x82, 0xac, 0x62],
      ['a', '', '', '', '€', 'b'],
    ],
    [
      "strips the text's first space only, not each window's",
      'SentencePiece BPE with byte fallback (Llama 2)',
      pieceIds('<s>', '▁hello', '▁wor', 'l', 'd'),
      ['', 'hello', ' wor', 'l', 'd'],
    ],
    [
      'fuses byte-fallback tokens into 🚀, after a space token that alone decodes to nothing',
      'SentencePiece BPE with byte fallback (Llama 2)',
      pieceIds('▁', '<0xF0>', '<0x9F>', '<0x9A>', '<0x80>', '▁', '▁the'),
      ['', '', '', '', '🚀', ' ', ' the'],
    ],
    [
      "drops the first token's leading space only, not each window's",
      'SentencePiece BPE with a Metaspace decoder',
      pieceIds('▁hello', '▁', '▁the', '</s>', '▁w'),
      ['hello', ' ', ' the', '', ' w'],
    ],
    [
      'keeps the space that clean-up of tokenization spaces would drop ("a \'s" → "a\'s"): a stream has sent it',
      'byte-level BPE (GPT-2)',
      [...Buffer.from("a 's")],
      ['a', ' ', "'", 's'],
    ],
  ];
  for (const [shows, name, tokens, pieces] of cases)
    it(`${name}: ${shows}`, () => {
      const { tokenizer } = TOKENIZERS[name];
      assert.deepEqual(tokens.map(tokenizer.streamDecoder()), pieces);
      assert.equal(pieces.join(''), tokenizer.decode(tokens));
    });

  it('decodes O(n) tokens in all for a stream of n tokens', () => {
    for (const [name, { tokenizer }] of Object.entries(TOKENIZERS)) {
      const random = seededRandom(7);
      const tokens: number[] = [];
      while (tokens.length < 2_000) tokens.push(...tokenizer.encode(randomText(random, 8)));
      let decoded = 0;
      const next = windowedStreamDecoder((window) => {
        decoded += window.length;
        return tokenizer.decode(window);
      });
      assert.equal(tokens.map(next).join(''), tokenizer.decode(tokens), name);
      assert.ok(decoded <= 8 * tokens.length, `${name}: ${decoded} tokens decoded for a stream of ${tokens.length}`);
    }
  });
});

/** Ids of the SentencePiece test tokenizers' pieces. */
function pieceIds(...pieces: string[]): number[] {
  const vocab = (sentencePieceTokenizerJson().model as { vocab: Record<string, number> }).vocab;
  return pieces.map((piece) => vocab[piece] ?? assert.fail(`no piece ${piece}`));
}
