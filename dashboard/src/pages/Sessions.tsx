// Who is connected now (refreshed every 2 s), and kicking a client.
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { ActionButton, Empty, Notice, Section, Time, useData } from '../ui.js';

interface Session {
  client_id: string; user_id: string | null; user_ref: string; token_id: string; address: string | null;
  protocol: string; broker_id: string; connected_at: string; expires_at: string;
}

export function SessionsPage({ orgId }: PageProps) {
  const { data, error, reload } = useData(() => api.get<{ sessions: Session[] }>(orgPath(orgId, 'sessions')), [orgId], 2000);
  const [fail, setFail] = useState<string | null>(null);
  return (
    <Section title={`Connected now${data ? ` (${data.sessions.length})` : ''}`} hint="Live MQTT sessions on every broker of this data directory; refreshes every 2 seconds.">
      {(error || fail) && <Notice>{error ?? fail}</Notice>}
      {data && data.sessions.length === 0 && <Empty>Nobody is connected.</Empty>}
      {data && data.sessions.length > 0 && (
        <table data-testid="sessions-table">
          <thead><tr><th>User</th><th>Client id</th><th>Address</th><th>Protocol</th><th>Since</th><th>Credential expires</th><th /></tr></thead>
          <tbody>
            {data.sessions.map((s) => (
              <tr key={s.client_id} data-client-id={s.client_id}>
                <td>{s.user_id ?? s.user_ref}</td>
                <td class="mono">{s.client_id}</td>
                <td class="mono small">{s.address ?? '—'}</td>
                <td><span class="pill">{s.protocol}</span></td>
                <td><Time iso={s.connected_at} /></td>
                <td><Time iso={s.expires_at} /></td>
                <td class="actions">
                  <ActionButton kind="danger" onError={setFail} testid={`kick-${s.client_id}`} onClick={async () => { await api.post(orgPath(orgId, 'sessions', s.client_id, 'kick')); await reload(); }}>
                    Kick
                  </ActionButton>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
