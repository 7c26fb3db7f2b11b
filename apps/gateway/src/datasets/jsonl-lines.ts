/** A line of an upload: its number (from 1, blank lines counted) and its text without the line break. */
export interface UploadLine {
  number: number;
  text: string;
}

/** A line grew past the limit before its end was seen; nothing past the limit was kept. */
export class LineTooLongError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly maxLineBytes: number,
  ) {
    super(`line ${lineNumber} is longer than ${maxLineBytes} bytes`);
    this.name = 'LineTooLongError';
  }
}

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines as it arrives. Each byte is looked at once (a search
 * starts where the last one ended, never at the start of the held line), and at most one
 * line's bytes are held: past `maxLineBytes` it throws at once instead of waiting for a
 * newline that may never come. Lines are cut at the newline byte, which no multi-byte UTF-8
 * sequence contains, so each is decoded on its own; a trailing `\r` is dropped.
 */
export class JsonlLineSplitter {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private lineNumber = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** The lines this chunk completes. */
  *push(chunk: Uint8Array): Generator<UploadLine> {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end >= 0; end = chunk.indexOf(NEWLINE, start)) {
      this.hold(chunk.subarray(start, end));
      yield this.take();
      start = end + 1;
    }
    if (start < chunk.byteLength) this.hold(chunk.subarray(start));
  }

  /** The last line, when the stream did not end with a newline. */
  *finish(): Generator<UploadLine> {
    if (this.heldBytes > 0) yield this.take();
  }

  private hold(part: Uint8Array): void {
    this.heldBytes += part.byteLength;
    if (this.heldBytes > this.maxLineBytes) throw new LineTooLongError(this.lineNumber + 1, this.maxLineBytes);
    if (part.byteLength > 0) this.held.push(part);
  }

  private take(): UploadLine {
    const bytes = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    const text = this.decoder.decode(bytes);
    return { number: ++this.lineNumber, text: text.endsWith('\r') ? text.slice(0, -1) : text };
  }
}
