import assert from 'node:assert/strict';

/** One JSON call with a bearer key: the status and the parsed body (null when empty). */
export async function jsonCall(baseUrl: string, key: string, method: string, url: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Uploads a dataset's content, one JSON object a line. */
export async function putDatasetContent(
  baseUrl: string,
  key: string,
  datasetId: string,
  lines: object[],
): Promise<void> {
  const put = await fetch(`${baseUrl}/v1/datasets/${datasetId}/content`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: lines.map((l) => JSON.stringify(l)).join('\n'),
  });
  assert.equal(put.status, 200, await put.text());
}

/**
 * Reads until `ready` (every 100 ms, at most 5 minutes); `failed` or the time running out
 * fails the test with the last value and `context()` (the workers' output).
 */
export async function until<T>(
  what: string,
  read: () => Promise<T>,
  ready: (value: T) => boolean,
  failed: (value: T) => boolean,
  context: () => string,
): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await read();
    if (ready(value)) return value;
    assert.ok(!failed(value) && i < 3000, `${what}: ${JSON.stringify(value)}\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
