// The dashboard shell: sign-in, the organisation picker (the admin sees every org, an org key only
// its own) and hash routes for the pages. Data comes from the admin API under the session cookie.
import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, setSignedOutHandler, signOut, type SessionInfo } from './api.js';
import { SignIn } from './pages/SignIn.js';
import { KeysPage } from './pages/Keys.js';
import { ProvidersPage } from './pages/Providers.js';
import { AccessPage } from './pages/Access.js';
import { TokensPage } from './pages/Tokens.js';
import { SessionsPage } from './pages/Sessions.js';
import { AuditPage } from './pages/Audit.js';
import { UsagePage } from './pages/Usage.js';
import { OrgsPage } from './pages/Orgs.js';
import { Notice, errorText } from './ui.js';

export interface PageProps {
  orgId: string;
  session: SessionInfo;
}

const PAGES = [
  { id: 'keys', title: 'API Keys', Page: KeysPage },
  { id: 'access', title: 'Access Control', Page: AccessPage },
  { id: 'providers', title: 'Identity Providers', Page: ProvidersPage },
  { id: 'tokens', title: 'Tokens', Page: TokensPage },
  { id: 'sessions', title: 'Sessions', Page: SessionsPage },
  { id: 'audit', title: 'Audit Log', Page: AuditPage },
  { id: 'usage', title: 'Usage', Page: UsagePage },
] as const;

type Route = { page: string; orgId: string | null };

function parseHash(): Route {
  const [page = 'keys', orgId = null] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return { page: page || 'keys', orgId };
}

const go = (page: string, orgId: string | null) => {
  location.hash = `#/${page}${orgId ? `/${encodeURIComponent(orgId)}` : ''}`;
};

function App() {
  const [session, setSession] = useState<SessionInfo | null | undefined>(undefined);
  const [bootError, setBootError] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(parseHash());

  useEffect(() => {
    setSignedOutHandler(() => setSession(null));
    currentSession().then(setSession, (err) => setBootError(errorText(err)));
    const onHash = () => setRoute(parseHash());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  if (bootError) return <main class="center"><Notice>{bootError}</Notice></main>;
  if (session === undefined) return <main class="center"><p class="muted">Loading…</p></main>;
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const orgs = session.organizations;
  const orgId = route.orgId && orgs.some((o) => o.organization_id === route.orgId) ? route.orgId : orgs[0]?.organization_id ?? null;
  const isAdmin = session.caller.kind === 'admin';
  const current = PAGES.find((p) => p.id === route.page);
  const showOrgs = isAdmin && (route.page === 'orgs' || orgId === null);

  return (
    <div class="layout">
      <aside class="sidebar">
        <div class="sidebar-inner">
        <div class="brand">
          <span class="logo" aria-hidden="true">◆</span> SignalGate
        </div>
        <label class="org-picker">
          <span>Organization</span>
          <select data-testid="org-picker" value={orgId ?? ''} onChange={(e) => go(route.page, (e.target as HTMLSelectElement).value)} disabled={orgs.length <= 1}>
            {orgs.map((o) => <option key={o.organization_id} value={o.organization_id}>{o.name}</option>)}
          </select>
          {orgId && <code class="org-id" data-testid="org-id">{orgId}</code>}
        </label>
        <nav>
          {PAGES.map((p) => (
            <a key={p.id} href={`#/${p.id}${orgId ? `/${encodeURIComponent(orgId)}` : ''}`} class={!showOrgs && route.page === p.id ? 'active' : ''}>{p.title}</a>
          ))}
          {isAdmin && <a href="#/orgs" class={showOrgs ? 'active' : ''}>Organizations</a>}
        </nav>
        <div class="whoami">
          <span class="muted">Signed in as</span>
          <strong data-testid="whoami">{isAdmin ? 'operator (admin key)' : `org key ${session.caller.kind === 'org' ? session.caller.key_id : ''}`}</strong>
          <button
            type="button"
            class="btn btn-plain btn-small"
            onClick={async () => {
              await signOut();
              setSession(null);
            }}
          >
            Sign out
          </button>
        </div>
        </div>
      </aside>
      <main class="content">
        {showOrgs || !orgId || !current ? (
          isAdmin ? <OrgsPage session={session} onChanged={async () => setSession(await currentSession())} /> : <Notice>Unknown page.</Notice>
        ) : (
          <>
            <h1>{current.title}</h1>
            <current.Page key={`${current.id}:${orgId}`} orgId={orgId} session={session} />
          </>
        )}
      </main>
    </div>
  );
}

// render() appends in Preact 11: drop the static "loading" text first.
const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
