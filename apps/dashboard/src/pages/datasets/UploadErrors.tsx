import { TesseraProblemError } from '@tessera/sdk';
import { ProblemMessage } from '../../components/ProblemMessage.js';

/** The validator names bad lines `line <n>` (and `body` for the upload as a whole). */
const lineOf = (field: string): string => /^line (\d+)$/.exec(field)?.[1] ?? field;

/** An upload's failure: a rejected file as a table of its bad lines, anything else as a problem. */
export function UploadErrors({ error }: { error: unknown }) {
  if (!(error instanceof TesseraProblemError) || error.fieldErrors.length === 0)
    return <ProblemMessage error={error} />;
  const { problem } = error;
  return (
    <div role="alert" className="problem upload-errors">
      <strong>{problem.title}</strong>
      {problem.detail ? <span> — {problem.detail}</span> : null}
      <table data-testid="upload-errors">
        <thead>
          <tr>
            <th scope="col">Line</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {error.fieldErrors.map((fieldError, i) => (
            <tr key={i}>
              <td>{lineOf(fieldError.field)}</td>
              <td>{fieldError.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {error.requestId ? <div className="muted">request {error.requestId}</div> : null}
    </div>
  );
}
