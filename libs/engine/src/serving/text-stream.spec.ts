import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { TextStream } from './text-stream.js';

const tokenizer = new ByteTokenizer();

function stream(text: string, stops: string[]) {
  const pieces: string[] = [];
  const textStream = new TextStream(tokenizer, stops, (_, piece) => pieces.push(piece));
  let stopped = false;
  let last: number | undefined;
  for (const token of tokenizer.encode(text)) {
    last = token;
    if ((stopped = textStream.push(token))) break;
  }
  if (!stopped) textStream.flush(last);
  return { text: textStream.text, pieces, stopped };
}

describe('TextStream', () => {
  it('cuts before the first stop sequence, streaming exactly the text it keeps', () => {
    const { text, pieces, stopped } = stream('Answer: 42\n\nQuestion: next', ['\n\n', 'Question']);
    assert.equal(stopped, true);
    assert.equal(text, 'Answer: 42');
    assert.equal(pieces.join(''), text);
  });

  it('holds back text that may start a stop sequence and releases it once it cannot', () => {
    const { pieces, text } = stream('abcXYabd', ['XYZ']);
    assert.equal(text, 'abcXYabd');
    assert.deepEqual(pieces, ['a', 'b', 'c', '', '', 'XYa', 'b', 'd']);
  });

  it('flushes a held-back tail when generation ends first', () => {
    const { pieces, stopped } = stream('endsXY', ['XYZ']);
    assert.equal(stopped, false);
    assert.equal(pieces.join(''), 'endsXY');
  });

  it('keeps multi-byte characters whole', () => {
    const { pieces } = stream('né 🚀', []);
    assert.ok(pieces.every((piece) => !piece.includes('\uFFFD')));
    assert.equal(pieces.join(''), 'né 🚀');
  });
});
