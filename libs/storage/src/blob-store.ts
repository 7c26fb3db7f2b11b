/** Where a blob lives: its content's sha256 (hex) and its size in bytes. */
export interface BlobRef {
  sha256: string;
  size: number;
}

export type BlobSource = Uint8Array | AsyncIterable<Uint8Array>;

/** A blob at its address, and when its bytes were last written there (a put of the same content writes them again). */
export interface StoredBlob {
  sha256: string;
  bytes: number;
  modifiedAt: Date;
}

/** A put's bytes before they reach an address: an upload in flight, or one a crash left behind. */
export interface StagedUpload {
  id: string;
  bytes: number;
  modifiedAt: Date;
}

/**
 * Content-addressed storage for datasets, adapter weights and checkpoints (Postgres keeps
 * only the refs). A blob is stored under the sha256 of its bytes, written atomically (whole
 * or not at all), verified against its address on every read, and `delete` erases it so no
 * read can return it again.
 *
 * A put stages its bytes apart from every address and moves them to theirs only once whole:
 * a crash mid-write leaves a staged upload, never a partial blob. Staged leftovers and blobs
 * no row refers to (a crash between put and the row's commit) are what the blob sweeper
 * lists and removes.
 */
export interface BlobStore {
  /**
   * Streams the source in, hashing as it passes; past `maxBytes` it stops and stores nothing.
   * Storing content that is already there writes it again, so its `modifiedAt` is fresh.
   */
  put(source: BlobSource, options?: { maxBytes?: number }): Promise<BlobRef>;
  /** The blob's bytes, checked against its address. */
  get(sha256: string): Promise<Uint8Array>;
  has(sha256: string): Promise<boolean>;
  /** The blob's size in bytes; BlobNotFoundError when there is none. */
  size(sha256: string): Promise<number>;
  /**
   * `length` bytes from `offset`, for reading one tensor of a multi-GB checkpoint without the
   * rest. Not checked against the address (only a whole read can be): a ranged reader relies on
   * the check made when the blob was stored. A range past the end is an error, never short bytes.
   */
  readRange(sha256: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * Erases the blob; false when there was none. With `unmodifiedSince`, a blob written after
   * that time is kept (false): a put that just stored the same content again is not undone.
   */
  delete(sha256: string, options?: { unmodifiedSince?: Date }): Promise<boolean>;
  /** Every blob at its address, in no particular order. */
  list(): AsyncIterable<StoredBlob>;
  /** Every staged upload: in flight, or left by a crash. */
  staging(): AsyncIterable<StagedUpload>;
  /** Removes a staged upload by its id; false when there was none. */
  removeStaged(id: string): Promise<boolean>;
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

/** A read past the end of a blob or file (or a negative or fractional range). */
export class BlobRangeError extends Error {
  constructor(
    readonly file: string,
    readonly size: number,
    readonly offset: number,
    readonly length: number,
  ) {
    super(`${file} holds ${size} bytes: cannot read ${length} bytes at ${offset}`);
    this.name = 'BlobRangeError';
  }
}

/** Refuses a range that is not whole numbers inside `[0, size)`, before any I/O. */
export function checkRange(what: string, size: number, offset: number, length: number): void {
  const whole = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0;
  if (!whole || offset + length > size) throw new BlobRangeError(what, size, offset, length);
}

/**
 * A file read by byte range: the shape of the engine's ShardSource, so a blob or a checkpoint
 * file is handed to the engine as it is (the storage library does not import the engine).
 */
export interface RangedFile {
  /** What problems call it: the file's name in its checkpoint. */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A stored blob as a ranged file named `name`. */
export async function blobFile(store: BlobStore, sha256: string, name: string): Promise<RangedFile> {
  const size = await store.size(sha256);
  return { name, size, read: (offset, length) => store.readRange(sha256, offset, length) };
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Refuses anything but a sha256 hex digest, so an address can never name a path or key outside the store. */
export function checkAddress(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256 address: ${JSON.stringify(sha256)}`);
  return sha256;
}

export async function* chunksOf(source: BlobSource): AsyncIterable<Uint8Array> {
  if (source instanceof Uint8Array) yield source;
  else yield* source;
}
