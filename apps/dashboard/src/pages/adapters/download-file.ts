/**
 * Saves a blob under `fileName` through a temporary object URL: the file endpoints need the
 * Bearer header, so a plain <a href> cannot fetch them; the SDK fetches, the browser saves.
 */
export function downloadFile(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = fileName;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  // Revoked on the next turn: the click has handed the URL to the download by then.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
