import { Page } from '../components/Page.js';

// Placeholder: being written.
export function AdaptersPage({ adapterId }: { adapterId?: string }) {
  return <Page title="Adapters">{String(adapterId ?? '')}</Page>;
}
