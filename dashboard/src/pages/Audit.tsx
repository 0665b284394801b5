// The audit trail: mint/refresh/revoke/auth-failure and admin events, filterable by user and event.
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { Empty, Notice, Section, Time, useData } from '../ui.js';

interface Entry {
  id: number; at: string; event: string; user_id: string | null; user_ref: string | null; token_id: string | null;
  ip: string | null; user_agent: string | null; expires_at: string | null; detail: Record<string, unknown> | null;
}
interface Page { entries: Entry[]; next_before_id: number | null }

const EVENTS = [
  'token.minted', 'token.refreshed', 'token.revoked', 'token.refresh_failed', 'token.exchanged', 'token.exchange_failed', 'auth.failed', 'session.kicked',
  'provider.added', 'provider.removed', 'key.created', 'key.revoked', 'key.rotated', 'rules.changed', 'integration.created', 'integration.deleted', 'org.created', 'dashboard.signed_in',
];

export function AuditPage({ orgId, session }: PageProps) {
  const [user, setUser] = useState('');
  const [event, setEvent] = useState('');
  const [older, setOlder] = useState<Entry[]>([]);
  const [next, setNext] = useState<number | null>(null);
  const [fail, setFail] = useState<string | null>(null);
  const params = (before?: number) => new URLSearchParams({ limit: '50', ...(user.trim() ? { user: user.trim() } : {}), ...(event ? { event } : {}), ...(before ? { before_id: String(before) } : {}) });
  // auth.failed rows carry no organisation (the key was not valid); the operator sees them all.
  const base = session.caller.kind === 'admin' && event === 'auth.failed' ? '/v2/admin/audit' : orgPath(orgId, 'audit');
  const first = useData(async () => {
    const p = await api.get<Page>(`${base}?${params()}`);
    setOlder([]);
    setNext(p.next_before_id);
    return p;
  }, [orgId, user, event]);
  const more = async () => {
    if (next === null) return;
    try {
      const p = await api.get<Page>(`${base}?${params(next)}`);
      setOlder([...older, ...p.entries]);
      setNext(p.next_before_id);
    } catch (err) {
      setFail(String(err));
    }
  };
  const entries = [...(first.data?.entries ?? []), ...older];
  return (
    <Section
      title="Events"
      hint="Credential and admin events, newest first."
      actions={
        <>
          <input aria-label="Filter by user" placeholder="User id" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
          <select aria-label="Filter by event" value={event} onChange={(e) => setEvent((e.target as HTMLSelectElement).value)}>
            <option value="">All events</option>
            {EVENTS.map((ev) => <option key={ev} value={ev}>{ev}</option>)}
          </select>
          <button type="button" class="btn btn-plain" onClick={() => void first.reload()}>Refresh</button>
        </>
      }
    >
      {(first.error || fail) && <Notice>{first.error ?? fail}</Notice>}
      {first.data && entries.length === 0 && <Empty>No matching events.</Empty>}
      {entries.length > 0 && (
        <table data-testid="audit-table">
          <thead><tr><th>When</th><th>Event</th><th>User</th><th>Token</th><th>IP</th><th>Details</th></tr></thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td><Time iso={e.at} /></td>
                <td><span class={`event event-${e.event.split('.')[0]}`}>{e.event}</span></td>
                <td>{e.user_id ?? <span class="muted">—</span>}</td>
                <td class="mono small">{e.token_id ? `${e.token_id.slice(0, 8)}…` : '—'}</td>
                <td class="mono small">{e.ip ?? '—'}</td>
                <td class="small detail">{e.detail ? Object.entries(e.detail).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ') : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next !== null && <div class="row-end"><button type="button" class="btn btn-plain" onClick={more}>Older events</button></div>}
    </Section>
  );
}
