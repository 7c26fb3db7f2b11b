import type { Tokenizer } from '../tokenizer/tokenizer.js';

/**
 * A generation's text as it streams: tokens decoded incrementally, cut before the first stop
 * sequence, and text that could still become a stop sequence held back until it cannot.
 * Each token costs time in its own length only: stops are searched in the new text and the
 * few characters before it.
 */
export class TextStream {
  text = '';
  /** Characters of `text` handed to `onText` so far. */
  private emitted = 0;
  private readonly nextText: (token: number) => string;
  private readonly longestStop: number;

  constructor(
    tokenizer: Tokenizer,
    private readonly stops: readonly string[],
    private readonly onText: (token: number, text: string) => void = () => undefined,
  ) {
    this.nextText = tokenizer.streamDecoder();
    this.longestStop = Math.max(0, ...stops.map((stop) => stop.length));
  }

  /** Adds a token's text; true when it completed a stop sequence (the text is cut before it and flushed). */
  push(token: number): boolean {
    const searchFrom = Math.max(0, this.text.length - this.longestStop + 1);
    this.text += this.nextText(token);
    const hits = this.stops.map((stop) => this.text.indexOf(stop, searchFrom)).filter((at) => at >= 0);
    if (hits.length) {
      this.text = this.text.slice(0, Math.min(...hits));
      this.flush(token);
      return true;
    }
    let held = 0;
    for (const stop of this.stops)
      for (let n = Math.min(stop.length - 1, this.text.length); n > held; n--)
        if (this.text.endsWith(stop.slice(0, n))) held = n;
    this.emit(token, this.text.length - held);
    return false;
  }

  /** Hands over whatever is still held back (generation ended without completing a stop sequence). */
  flush(lastToken: number | undefined): void {
    if (lastToken !== undefined && this.emitted < this.text.length) this.emit(lastToken, this.text.length);
  }

  private emit(token: number, upTo: number): void {
    const piece = this.text.slice(this.emitted, Math.max(upTo, this.emitted));
    this.emitted = Math.max(upTo, this.emitted);
    this.onText(token, piece);
  }
}
