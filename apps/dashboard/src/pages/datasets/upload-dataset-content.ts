import { TesseraProblemError, type Schemas } from '@tessera/sdk';

export interface UploadProgress {
  loaded: number;
  total: number;
}

/**
 * PUT /v1/datasets/{id}/content with the file as the JSONL body, reporting bytes sent.
 *
 * The one call that bypasses the SDK: openapi-fetch cannot report upload progress, and a
 * streamed fetch body needs HTTP/2 in Chromium, so this is an XMLHttpRequest carrying the
 * session's key as the SDK's client would. A failure becomes the same TesseraProblemError
 * the SDK throws, so the page shows it the same way.
 */
export function uploadDatasetContent({
  baseUrl,
  apiKey,
  datasetId,
  file,
  onProgress,
  signal,
}: {
  baseUrl: string;
  apiKey: string;
  datasetId: string;
  file: Blob;
  onProgress: (progress: UploadProgress) => void;
  signal?: AbortSignal;
}): Promise<Schemas['Dataset']> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', `${baseUrl.replace(/\/$/, '')}/v1/datasets/${encodeURIComponent(datasetId)}/content`);
    xhr.setRequestHeader('authorization', `Bearer ${apiKey}`);
    xhr.setRequestHeader('content-type', 'application/x-ndjson');
    xhr.upload.onprogress = (event) =>
      onProgress({ loaded: event.loaded, total: event.lengthComputable ? event.total : file.size });
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText) as Schemas['Dataset']);
        } catch {
          reject(new Error(`the gateway answered ${xhr.status} with a body that is not JSON`));
        }
        return;
      }
      const headers = new Headers();
      for (const name of ['content-type', 'x-request-id', 'retry-after']) {
        const value = xhr.getResponseHeader(name);
        if (value !== null) headers.set(name, value);
      }
      TesseraProblemError.fromResponse(
        new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText, headers }),
      ).then(reject, reject);
    };
    xhr.onerror = () => reject(new TypeError('the upload could not reach the gateway'));
    xhr.onabort = () => reject(new DOMException('the upload was stopped', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(file);
  });
}
