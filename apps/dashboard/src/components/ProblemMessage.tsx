import { TesseraProblemError } from '@tessera/sdk';

/** An API error in words: the problem's title and detail, each field error, and the request id to quote. */
export function ProblemMessage({ error }: { error: unknown }) {
  if (!error) return null;
  if (!(error instanceof TesseraProblemError)) {
    // fetch fails with a TypeError when no answer came at all; anything else happened here.
    return (
      <div role="alert" className="problem">
        <strong>{error instanceof TypeError ? 'Could not reach the gateway.' : 'Something went wrong.'}</strong>{' '}
        {error instanceof Error ? error.message : String(error)}
      </div>
    );
  }
  const { problem } = error;
  return (
    <div role="alert" className="problem">
      <strong>{problem.title}</strong>
      {problem.detail ? <span> — {problem.detail}</span> : null}
      {error.fieldErrors.length > 0 ? (
        <ul>
          {error.fieldErrors.map((fieldError, i) => (
            <li key={i}>
              <code>{fieldError.field}</code> {fieldError.message}
            </li>
          ))}
        </ul>
      ) : null}
      <div className="muted">
        {error.status} · {error.type}
        {error.requestId ? ` · request ${error.requestId}` : ''}
        {error.retryAfterSeconds !== undefined ? ` · retry after ${error.retryAfterSeconds} s` : ''}
      </div>
    </div>
  );
}
