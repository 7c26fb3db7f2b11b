import { FineTuneDetail } from './fine-tunes/FineTuneDetail.js';
import { FineTuneList } from './fine-tunes/FineTuneList.js';

/** #/fine-tunes lists and starts fine-tunes; #/fine-tunes/{id} follows one live. */
export function FineTunesPage({ jobId }: { jobId?: string }) {
  return jobId ? <FineTuneDetail jobId={jobId} /> : <FineTuneList />;
}
