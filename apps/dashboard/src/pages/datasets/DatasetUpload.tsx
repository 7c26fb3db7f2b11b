import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useSession } from '../../api.js';
import { ProgressBar } from '../../components/ProgressBar.js';
import { formatBytes } from '../../format.js';
import { UploadErrors } from './UploadErrors.js';
import { uploadDatasetContent, type UploadProgress } from './upload-dataset-content.js';

/** Sends a dataset its JSONL file; the gateway validates while it streams and answers at the end. */
export function DatasetUpload({ datasetId }: { datasetId: string }) {
  const { baseUrl, apiKey } = useSession();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  const upload = useMutation({
    mutationFn: (content: File) => {
      abort.current = new AbortController();
      setProgress({ loaded: 0, total: content.size });
      return uploadDatasetContent({
        baseUrl,
        apiKey,
        datasetId,
        file: content,
        onProgress: setProgress,
        signal: abort.current.signal,
      });
    },
    onSuccess: async (dataset) => {
      queryClient.setQueryData(['datasets', datasetId], dataset);
      await queryClient.invalidateQueries({ queryKey: ['datasets'] });
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    if (file) upload.mutate(file);
  }

  // Every byte is out but the answer is not in: the gateway is still checking the last lines.
  const validating = upload.isPending && progress !== null && progress.total > 0 && progress.loaded >= progress.total;
  return (
    <form className="card stack" onSubmit={submit} aria-label="Upload content">
      <h2>Upload content</h2>
      <p className="muted">
        One JSON record per line, in the dataset&apos;s format; optional document_id and access_group on each record.
      </p>
      <label>
        JSONL file
        <input
          type="file"
          accept=".jsonl,.ndjson,application/x-ndjson,application/jsonl"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
          disabled={upload.isPending}
        />
      </label>
      <div>
        <button type="submit" disabled={!file || upload.isPending}>
          {upload.isPending ? 'Uploading…' : 'Upload'}
        </button>
        {file ? <span className="muted"> {formatBytes(file.size)}</span> : null}
      </div>
      {upload.isPending && progress ? (
        <div data-testid="upload-progress">
          <ProgressBar value={progress.total ? progress.loaded / progress.total : 0} label="Upload" />
          <span className="muted">
            {validating ? 'Validating…' : `${formatBytes(progress.loaded)} of ${formatBytes(progress.total)}`}
          </span>
        </div>
      ) : null}
      {upload.isError ? <UploadErrors error={upload.error} /> : null}
    </form>
  );
}
