import { useQuery } from '@tanstack/react-query';
import { unwrap } from '@tessera/sdk';
import { lazy, Suspense, type ComponentType, type MouseEvent, type ReactNode } from 'react';
import { useApi, useOptionalSession, useSession } from './api.js';
import { PageErrorBoundary } from './components/PageErrorBoundary.js';
import { Link, useRoute } from './router.js';
import { SignIn } from './pages/SignIn.js';

// Each page is its own chunk, loaded when first visited: the first load carries the shell only.
const lazyPage = <P extends object>(load: () => Promise<ComponentType<P>>) =>
  lazy(async () => ({ default: await load() }));
const AccessPage = lazyPage(() => import('./pages/AccessPage.js').then((m) => m.AccessPage));
const AdaptersPage = lazyPage(() => import('./pages/AdaptersPage.js').then((m) => m.AdaptersPage));
const CompositionsPage = lazyPage(() => import('./pages/CompositionsPage.js').then((m) => m.CompositionsPage));
const DatasetsPage = lazyPage(() => import('./pages/DatasetsPage.js').then((m) => m.DatasetsPage));
const DeletionPage = lazyPage(() => import('./pages/DeletionPage.js').then((m) => m.DeletionPage));
const FineTunesPage = lazyPage(() => import('./pages/FineTunesPage.js').then((m) => m.FineTunesPage));
const OverviewPage = lazyPage(() => import('./pages/OverviewPage.js').then((m) => m.OverviewPage));
const PlaygroundPage = lazyPage(() => import('./pages/PlaygroundPage.js').then((m) => m.PlaygroundPage));
const WebhooksPage = lazyPage(() => import('./pages/WebhooksPage.js').then((m) => m.WebhooksPage));

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
      <a className="skip-link" href="#content" onClick={skipToContent}>
        Skip to content
      </a>
      <nav className="sidebar" aria-label="Main">
        <div className="brand">Tessera</div>
        <div className="nav-links">
          {NAV.map((item) => (
            <Link key={item.path} to={item.path} current={item.path === section}>
              {item.label}
            </Link>
          ))}
        </div>
        <WhoAmI />
      </nav>
      <main className="content" id="content" tabIndex={-1}>
        <PageErrorBoundary resetKey={route.join('/')}>
          <Suspense fallback={<p className="muted">Loading…</p>}>{pageFor(route)}</Suspense>
        </PageErrorBoundary>
      </main>
    </div>
  );
}

/** The skip link moves focus itself: the app routes by hash, so following #content would navigate. */
function skipToContent(event: MouseEvent) {
  event.preventDefault();
  (document.querySelector<HTMLElement>('main h1') ?? document.getElementById('content'))?.focus();
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
