import { useState } from 'react';

/**
 * A button for what cannot be undone: the first click asks, the second does it, and the
 * other answer (`keepLabel`) takes the question back. `warning`, when given, says what the
 * second click costs while it is asked.
 */
export function ConfirmButton({
  label,
  confirmLabel,
  keepLabel,
  className,
  pending,
  onConfirm,
  warning,
}: {
  label: string;
  confirmLabel: string;
  keepLabel: string;
  className: string;
  pending: boolean;
  onConfirm: () => void;
  warning?: string;
}) {
  const [confirming, setConfirming] = useState(false);
  if (!confirming) {
    return (
      <button type="button" className={className} onClick={() => setConfirming(true)}>
        {label}
      </button>
    );
  }
  return (
    <>
      <button type="button" className="danger" onClick={onConfirm} disabled={pending}>
        {confirmLabel}
      </button>
      <button type="button" className="secondary" onClick={() => setConfirming(false)}>
        {keepLabel}
      </button>
      {warning ? <span className="muted">{warning}</span> : null}
    </>
  );
}
