import { Page } from '../components/Page.js';

// Placeholder: being written.
export function PlaygroundPage() {
  return <Page title="Playground">{null}</Page>;
}
