import { Page } from '../components/Page.js';

// Placeholder: being written.
export function AccessPage() {
  return <Page title="Access">{null}</Page>;
}
