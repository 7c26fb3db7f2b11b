import { useMutation } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { useApi } from '../../api.js';
import { ProblemMessage } from '../../components/ProblemMessage.js';
import { downloadFile } from './download-file.js';

type PeftFile = 'adapter_model.safetensors' | 'adapter_config.json';
const FILES: PeftFile[] = ['adapter_model.safetensors', 'adapter_config.json'];

/** The PEFT files of one ready version, each a button that fetches it with the key and saves it. */
export function VersionDownloads({
  adapterId,
  adapterName,
  version,
}: {
  adapterId: string;
  adapterName: string;
  version: number;
}) {
  const api = useApi();
  const download = useMutation({
    mutationFn: async (file: PeftFile) => {
      const params = { path: { adapter_id: adapterId, version } };
      const blob =
        file === 'adapter_model.safetensors'
          ? await unwrap(
              api.GET('/v1/adapters/{adapter_id}/versions/{version}/adapter_model.safetensors', {
                params,
                parseAs: 'blob',
              }),
            )
          : await unwrap(
              api.GET('/v1/adapters/{adapter_id}/versions/{version}/adapter_config.json', { params, parseAs: 'blob' }),
            );
      downloadFile(blob, `${adapterName}-v${version}-${file}`);
    },
  });
  return (
    <div className="downloads">
      {FILES.map((file) => (
        <button
          key={file}
          type="button"
          className="secondary"
          aria-label={`Download ${file} of v${version}`}
          disabled={download.isPending}
          onClick={() => download.mutate(file)}
        >
          {file}
        </button>
      ))}
      <ProblemMessage error={download.error} />
    </div>
  );
}
