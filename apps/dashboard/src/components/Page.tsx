import { useEffect, useRef, type ReactNode } from 'react';
import { useRoute } from '../router.js';
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
  const heading = useRef<HTMLHeadingElement>(null);
  const path = useRoute().join('/');
  // A new page (or signing in) moves focus to its heading, so screen readers announce it and
  // keyboard users start from the top of the content; the tab says where you are.
  useEffect(() => heading.current?.focus(), [path]);
  useEffect(() => {
    document.title = `${title} · Tessera`;
  }, [title]);
  return (
    <section className="page">
      <header className="page-header">
        <h1 ref={heading} tabIndex={-1}>
          {title}
        </h1>
        {actions ? <div className="actions">{actions}</div> : null}
      </header>
      <ProblemMessage error={error} />
      {loading ? <p className="muted">Loading…</p> : children}
    </section>
  );
}
