import { useState } from 'react';
import './SecretOnce.css';

/**
 * A secret the API returns in one response only (API keys, webhook signing secrets): shown
 * until the reader says it is stored, with a copy button; it is never fetched again. A replay
 * of the creating request (same Idempotency-Key) carries null: there is nothing to show then.
 */
export function SecretOnce({
  label,
  secret,
  onDismiss,
}: {
  label: string;
  secret: string | null;
  onDismiss: () => void;
}) {
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  async function copy() {
    // No clipboard without a secure context (plain http on another host), or when the browser
    // refuses: the text stays there to select by hand.
    try {
      if (!navigator.clipboard || secret === null) throw new Error('no clipboard');
      await navigator.clipboard.writeText(secret);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  }
  if (secret === null) {
    return (
      <div className="secret-once" role="status" aria-label={label}>
        <strong>{label}</strong>
        <span className="muted">
          This answer repeats an earlier one: the secret was shown only the first time. If it was not stored, replace
          it.
        </span>
        <div>
          <button type="button" onClick={onDismiss}>
            Close
          </button>
        </div>
      </div>
    );
  }
  return (
    <div className="secret-once" role="status" aria-label={label}>
      <strong>{label}</strong>
      <span className="muted">Shown only now: store it somewhere safe. It cannot be shown again.</span>
      <div className="secret-once-value">
        <code data-testid="secret-value">{secret}</code>
        <button type="button" className="secondary" onClick={() => void copy()}>
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      {copied === 'failed' ? (
        <span className="muted">The browser would not copy it: select the text and copy it by hand.</span>
      ) : null}
      <div>
        <button type="button" onClick={onDismiss}>
          I have stored it
        </button>
      </div>
    </div>
  );
}
