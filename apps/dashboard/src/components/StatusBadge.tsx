/** A status word with its colour (styles.css maps the API's status values to colours). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`status ${status}`}>{status}</span>;
}
