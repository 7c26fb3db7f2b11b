import { createHash, randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'tsk_';
const SECRET_PATTERN = /^tsk_[A-Za-z0-9_-]{43}$/;

/** A new key: 256 random bits, base64url, behind the `tsk_` prefix. */
export function newApiKeySecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

export function looksLikeApiKeySecret(secret: string): boolean {
  return SECRET_PATTERN.test(secret);
}

/** Keys are random with 256 bits of entropy, so one sha256 suffices (no slow hash needed). */
export function hashApiKeySecret(secret: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(secret).digest());
}

export function displayPrefix(secret: string): string {
  return secret.slice(0, SECRET_PREFIX.length + 6);
}
