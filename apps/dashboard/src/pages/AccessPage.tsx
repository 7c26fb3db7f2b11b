import { Page } from '../components/Page.js';
import { ApiKeysSection } from './access/ApiKeysSection.js';
import { GroupsSection } from './access/GroupsSection.js';

/** #/access: access groups with their members, and the tenant's API keys. */
export function AccessPage() {
  return (
    <Page title="Groups & keys">
      <GroupsSection />
      <ApiKeysSection />
    </Page>
  );
}
