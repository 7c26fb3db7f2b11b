import type { ReactNode } from 'react';
import { ProblemMessage } from './ProblemMessage.js';

/** A page's frame: its title, actions on the right, and the load error or a loading line. */
export function Page({
  title,
  actions,
  error,
  loading,
  children,
}: {
  title: string;
  actions?: ReactNode;
  error?: unknown;
  loading?: boolean;
  children?: ReactNode;
}) {
  return (
    <section className="page">
      <header className="page-header">
        <h1>{title}</h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </header>
      <ProblemMessage error={error} />
      {loading ? <p className="muted">Loading…</p> : children}
    </section>
  );
}
