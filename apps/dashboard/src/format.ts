// Display formatting shared by the pages; the API's numbers and ISO timestamps stay as they
// are in state and are formatted only when rendered.

export const formatDateTime = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : '—');

export const formatNumber = (value: number | null | undefined, digits = 0): string =>
  value === null || value === undefined
    ? '—'
    : value.toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A loss in nats, to the precision a reader compares at. */
export const formatLoss = (value: number | null | undefined): string =>
  value === null || value === undefined ? '—' : value.toFixed(3);

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
