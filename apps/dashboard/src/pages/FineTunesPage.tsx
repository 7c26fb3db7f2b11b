import { Page } from '../components/Page.js';

// Placeholder: being written.
export function FineTunesPage({ jobId }: { jobId?: string }) {
  return <Page title="FineTunes">{String(jobId ?? '')}</Page>;
}
