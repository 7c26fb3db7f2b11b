/**
 * A stream decoder that decodes only a short window of the stream per token, so a generation of
 * n tokens costs O(n) decoded tokens instead of the O(n²) of decoding the whole stream each time.
 *
 * `decode` must be prefix-stable: its text for a token list begins with its text for any prefix of
 * that list that ends on a whole character and holds at least one token that makes text. The
 * Hugging Face decoders are (byte-level, byte fallback, Metaspace, Strip), with one catch that the
 * window handles: some treat the first token of a call differently (SentencePiece strips its leading
 * space), so the window starts one emitted stretch back and that stretch is decoded only as context.
 *
 * The pieces are exactly those of decoding the whole stream each time and emitting what is new
 * unless the text ends in U+FFFD (a character whose bytes have not all arrived).
 */
export function windowedStreamDecoder(decode: (tokens: readonly number[]) => string): (token: number) => string {
  // window = stream[prefixOffset, end); window[0, readOffset) is the stretch emitted last (the context).
  let window: number[] = [];
  let readOffset = 0;
  let contextText = ''; // decode(window[0, readOffset))
  return (token) => {
    window.push(token);
    const text = decode(window);
    if (text.length <= contextText.length || text.endsWith('\uFFFD')) return '';
    const piece = text.slice(contextText.length);
    // The new context is everything after the old one; it holds the token just pushed, so it is never empty.
    window = window.slice(readOffset);
    readOffset = window.length;
    contextText = decode(window);
    return piece;
  };
}
