import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** What a secret stored before encryption starts with (all `newWebhookSecret` writes). */
const LEGACY_PREFIX = 'whsec_';

/**
 * Webhook signing secrets at rest: AES-256-GCM under WEBHOOK_SECRET_KEY, stored as
 * `v1:<iv>:<ciphertext>:<tag>` (each base64url). The endpoint's id is the associated data, so
 * a sealed secret copied onto another row does not open. The worker needs the secret in clear
 * to sign, so it is encrypted, not hashed.
 *
 * Rows written before encryption hold the plaintext `whsec_…`: `open` returns it as it is, and
 * the gateway seals it on the endpoint's next update (PATCH). No migration does it, since
 * migrations do not have the key.
 */
export class WebhookSecretBox {
  constructor(private readonly key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new Error(`a webhook secret key is ${KEY_BYTES} bytes, not ${key.length}`);
  }

  seal(secret: string, endpointId: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(endpointId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [VERSION, ...[iv, ciphertext, cipher.getAuthTag()].map((part) => part.toString('base64url'))].join(':');
  }

  /** The secret in clear; throws when the stored value was changed or sealed under another key or endpoint. */
  open(stored: string, endpointId: string): string {
    if (isLegacyPlaintext(stored)) return stored;
    const parts = stored.split(':');
    const [iv, ciphertext, tag] = parts.slice(1).map((part) => Buffer.from(part, 'base64url'));
    if (
      parts[0] !== VERSION ||
      parts.length !== 4 ||
      iv?.length !== IV_BYTES ||
      !ciphertext ||
      tag?.length !== TAG_BYTES
    )
      throw new Error(`the sealed webhook secret of ${endpointId} is malformed`);
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv, { authTagLength: TAG_BYTES })
      .setAAD(Buffer.from(endpointId))
      .setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(
        `the webhook secret of ${endpointId} does not open with this WEBHOOK_SECRET_KEY (another key, or a changed value)`,
      );
    }
  }
}

/** Whether a stored secret is a legacy plaintext `whsec_…`, to be sealed on the endpoint's next write. */
export function isLegacyPlaintext(stored: string): boolean {
  return stored.startsWith(LEGACY_PREFIX);
}

/** The 32 bytes of a key written as 64 hex digits or as base64 / base64url; null for anything else. */
export function parseSecretKey(text: string): Buffer | null {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  // Buffer's base64 decoder skips characters it does not know: check the alphabet and length first.
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return null;
  const key = Buffer.from(text, 'base64');
  return key.length === KEY_BYTES ? key : null;
}
