import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonlLineSplitter, LineTooLongError, type UploadLine } from './jsonl-lines.js';

/** Feeds `text` to a splitter in chunks of `size` bytes; returns the lines it gave. */
function split(text: string | Uint8Array, size: number, maxLineBytes = 1 << 20): UploadLine[] {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const splitter = new JsonlLineSplitter(maxLineBytes);
  const lines: UploadLine[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) lines.push(...splitter.push(bytes.subarray(at, at + size)));
  lines.push(...splitter.finish());
  return lines;
}

describe('JSONL line splitter', () => {
  it('gives the same numbered lines however the bytes are chunked', () => {
    const text = 'a\r\n\nbé€c\n{"x":1}';
    const expected = [
      { number: 1, text: 'a' },
      { number: 2, text: '' },
      { number: 3, text: 'bé€c' },
      { number: 4, text: '{"x":1}' },
    ];
    // Chunk sizes of 1 and 2 cut é and € (two and three UTF-8 bytes) between chunks.
    for (const size of [1, 2, 3, 5, 64]) assert.deepEqual(split(text, size), expected, `chunks of ${size}`);
    assert.deepEqual(split('a\n', 1), [{ number: 1, text: 'a' }], 'a final newline adds no line');
  });

  it('takes a line of exactly the limit and refuses one byte more, naming its line', () => {
    assert.deepEqual(split('ab\nxyz\n', 2, 3)[1], { number: 2, text: 'xyz' });
    assert.throws(
      () => split('ab\nxyzw\n', 2, 3),
      (e: unknown) => e instanceof LineTooLongError && e.lineNumber === 2 && e.maxLineBytes === 3,
    );
  });

  it('refuses a line without a newline as soon as it passes the limit, holding no more than that', () => {
    const splitter = new JsonlLineSplitter(1000);
    const chunk = new Uint8Array(300).fill(0x61);
    let pushed = 0;
    assert.throws(() => {
      for (;;) {
        pushed++;
        assert.deepEqual([...splitter.push(chunk)], []);
      }
    }, LineTooLongError);
    assert.equal(pushed, 4, 'refused on the chunk that crossed 1000 bytes');
  });

  it('splits in linear time: a 64 MB line in 64 KiB chunks and a million short lines', () => {
    // Re-searching the held line on every chunk (the old splitter) took minutes for 100 MB.
    const started = performance.now();
    const splitter = new JsonlLineSplitter(64 << 20);
    const chunk = new Uint8Array(64 << 10).fill(0x61);
    for (let i = 0; i < 1024; i++) assert.equal(splitter.push(chunk).next().done, true);
    assert.equal([...splitter.push(Buffer.from('\n'))][0]!.text.length, 64 << 20);
    assert.equal(split('{"t":1}\n'.repeat(1_000_000), 64 << 10).length, 1_000_000);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 10, `took ${seconds.toFixed(1)} s`);
  });
});
