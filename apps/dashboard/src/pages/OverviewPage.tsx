import { Page } from '../components/Page.js';
import { QueueDepth } from './overview/QueueDepth.js';
import { RunningJobs } from './overview/RunningJobs.js';
import { UsageCard } from './overview/UsageCard.js';
import './overview/overview.css';

/** #/: what the tenant's adapters are used for, what is training now, and what it waits behind. */
export function OverviewPage() {
  return (
    <Page title="Overview">
      <div className="overview">
        <UsageCard />
        <RunningJobs />
        <QueueDepth />
      </div>
    </Page>
  );
}
