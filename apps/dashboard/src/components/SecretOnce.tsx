import { useState } from 'react';
import './SecretOnce.css';

/**
 * A secret the API returns in one response only (API keys, webhook signing secrets): shown
 * until the reader says it is stored, with a copy button; it is never fetched again.
 */
export function SecretOnce({ label, secret, onDismiss }: { label: string; secret: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    // No clipboard without a secure context (plain http on another host): the text stays selectable.
    await navigator.clipboard?.writeText(secret);
    setCopied(true);
  }
  return (
    <div className="secret-once" role="status" aria-label={label}>
      <strong>{label}</strong>
      <span className="muted">Shown only now: store it somewhere safe. It cannot be shown again.</span>
      <div className="secret-once-value">
        <code data-testid="secret-value">{secret}</code>
        <button type="button" className="secondary" onClick={() => void copy()}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <div>
        <button type="button" onClick={onDismiss}>
          I have stored it
        </button>
      </div>
    </div>
  );
}
