/** Where a blob lives: its content's sha256 (hex) and its size in bytes. */
export interface BlobRef {
  sha256: string;
  size: number;
}

export type BlobSource = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Content-addressed storage for datasets, adapter weights and checkpoints (Postgres keeps
 * only the refs). A blob is stored under the sha256 of its bytes, written atomically (whole
 * or not at all), verified against its address on every read, and `delete` erases it so no
 * read can return it again.
 */
export interface BlobStore {
  /** Streams the source in, hashing as it passes; past `maxBytes` it stops and stores nothing. */
  put(source: BlobSource, options?: { maxBytes?: number }): Promise<BlobRef>;
  /** The blob's bytes, checked against its address. */
  get(sha256: string): Promise<Uint8Array>;
  has(sha256: string): Promise<boolean>;
  /** Erases the blob; false when there was none. */
  delete(sha256: string): Promise<boolean>;
}

export class BlobNotFoundError extends Error {
  constructor(readonly sha256: string) {
    super(`blob ${sha256} does not exist`);
    this.name = 'BlobNotFoundError';
  }
}

export class BlobCorruptedError extends Error {
  constructor(
    readonly sha256: string,
    readonly actual: string,
  ) {
    super(`blob ${sha256} is corrupted: its bytes hash to ${actual}`);
    this.name = 'BlobCorruptedError';
  }
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`blob exceeds the limit of ${maxBytes} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Refuses anything but a sha256 hex digest, so an address can never name a path or key outside the store. */
export function checkAddress(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256 address: ${JSON.stringify(sha256)}`);
  return sha256;
}

export async function* chunksOf(source: BlobSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) yield source;
  else yield* source;
}
