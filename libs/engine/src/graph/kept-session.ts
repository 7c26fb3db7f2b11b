import type { InferenceSession } from 'onnxruntime-node';

/**
 * An ONNX Runtime session kept between uses, for work whose session costs more to start than
 * one use of it (the placement probe): started on first use, shared by concurrent uses, and
 * given back after `idleMs` unused or on close() — never while a use runs.
 */
export class KeptSession {
  private session: Promise<InferenceSession> | null = null;
  private users = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  /** close() came while uses ran: the last of them gives the session back. */
  private closing = false;

  constructor(
    private readonly start: () => Promise<InferenceSession>,
    /** Undefined: kept until close(). */
    private readonly idleMs?: number,
  ) {}

  /** Whether a session is started or starting. */
  get started(): boolean {
    return this.session !== null;
  }

  async use<T>(work: (session: InferenceSession) => Promise<T>): Promise<T> {
    this.users++;
    this.stopIdleTimer();
    try {
      const pending = (this.session ??= this.start());
      let session: InferenceSession;
      try {
        session = await pending;
      } catch (error) {
        // Only the start that failed is forgotten: the next use tries again.
        if (this.session === pending) this.session = null;
        throw error;
      }
      return await work(session);
    } finally {
      this.users--;
      if (this.users === 0) this.idle();
    }
  }

  /** Gives the session back now, or when the running uses end; a later use starts another. */
  async close(): Promise<void> {
    this.stopIdleTimer();
    if (this.users > 0) this.closing = true;
    else await this.release();
  }

  private idle(): void {
    if (this.closing) {
      this.closing = false;
      void this.release();
    } else if (this.idleMs !== undefined) {
      this.idleTimer = setTimeout(() => void this.release(), this.idleMs);
      this.idleTimer.unref();
    }
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private async release(): Promise<void> {
    const pending = this.session;
    if (!pending) return;
    this.session = null;
    // Nothing is left to do with a session that failed to start or to release, and a rejection
    // from a timer would end the process.
    const session = await pending.catch(() => null);
    await session?.release().catch(() => undefined);
  }
}
