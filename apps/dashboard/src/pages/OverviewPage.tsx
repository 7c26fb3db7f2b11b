import { Page } from '../components/Page.js';

// Placeholder: being written.
export function OverviewPage() {
  return <Page title="Overview">{null}</Page>;
}
