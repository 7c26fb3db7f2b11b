import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import type { ReactNode } from 'react';
import { useApi, useOptionalSession, useSession } from './api.js';
import { PageErrorBoundary } from './components/PageErrorBoundary.js';
import { Link, useRoute } from './router.js';
import { AccessPage } from './pages/AccessPage.js';
import { AdaptersPage } from './pages/AdaptersPage.js';
import { CompositionsPage } from './pages/CompositionsPage.js';
import { DatasetsPage } from './pages/DatasetsPage.js';
import { DeletionPage } from './pages/DeletionPage.js';
import { FineTunesPage } from './pages/FineTunesPage.js';
import { OverviewPage } from './pages/OverviewPage.js';
import { PlaygroundPage } from './pages/PlaygroundPage.js';
import { SignIn } from './pages/SignIn.js';
import { WebhooksPage } from './pages/WebhooksPage.js';

const NAV: Array<{ path: string; label: string }> = [
  { path: '/', label: 'Overview' },
  { path: '/datasets', label: 'Datasets' },
  { path: '/fine-tunes', label: 'Fine-tunes' },
  { path: '/adapters', label: 'Adapters' },
  { path: '/compositions', label: 'Compositions' },
  { path: '/playground', label: 'Playground' },
  { path: '/webhooks', label: 'Webhooks' },
  { path: '/access', label: 'Groups & keys' },
];

export function App() {
  return useOptionalSession() ? <SignedIn /> : <SignIn />;
}

function SignedIn() {
  const route = useRoute();
  const section = `/${route[0] ?? ''}`;
  return (
    <div className="layout">
      <nav className="sidebar" aria-label="Main">
        <div className="brand">Tessera</div>
        {NAV.map((item) => (
          <Link key={item.path} to={item.path} className={item.path === section ? 'active' : ''}>
            {item.label}
          </Link>
        ))}
        <WhoAmI />
      </nav>
      <main className="content">
        <PageErrorBoundary resetKey={route.join('/')}>{pageFor(route)}</PageErrorBoundary>
      </main>
    </div>
  );
}

/** One page per first path segment; the second, when there is one, is the id it shows. */
function pageFor([section, id]: string[]): ReactNode {
  switch (section) {
    case undefined:
      return <OverviewPage />;
    case 'datasets':
      return <DatasetsPage datasetId={id} />;
    case 'deletions':
      return <DeletionPage deletionId={id ?? ''} />;
    case 'fine-tunes':
      return <FineTunesPage jobId={id} />;
    case 'adapters':
      return <AdaptersPage adapterId={id} />;
    case 'compositions':
      return <CompositionsPage compositionId={id} />;
    case 'playground':
      return <PlaygroundPage />;
    case 'webhooks':
      return <WebhooksPage webhookId={id} />;
    case 'access':
      return <AccessPage />;
    default:
      return <p>No page at #{`/${section}`}.</p>;
  }
}

function WhoAmI() {
  const { signOut } = useSession();
  const api = useApi();
  const me = useQuery({ queryKey: ['me'], queryFn: () => unwrap(api.GET('/v1/me')) });
  return (
    <div className="whoami">
      {me.data ? (
        <span className="muted" title={me.data.tenant_id}>
          {me.data.scopes.join(', ')}
        </span>
      ) : null}
      <button type="button" className="link" onClick={signOut}>
        Sign out
      </button>
    </div>
  );
}
