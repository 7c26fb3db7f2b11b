import { Page } from '../components/Page.js';

// Placeholder: being written.
export function CompositionsPage({ compositionId }: { compositionId?: string }) {
  return <Page title="Compositions">{String(compositionId ?? '')}</Page>;
}
