import { Page } from '../components/Page.js';

// Placeholder: being written.
export function DeletionPage({ deletionId }: { deletionId: string }) {
  return <Page title="Deletion">{String(deletionId ?? '')}</Page>;
}
