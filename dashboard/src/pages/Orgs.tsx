// Operator only: every organisation, and creating one (its first secret key is shown once).
import { useState } from 'preact/hooks';
import { api, type SessionInfo } from '../api.js';
import { ActionButton, Notice, SecretOnce, Section, Time, useData } from '../ui.js';

interface Org { organization_id: string; name: string; created_at: string; default_ttl_seconds: number; max_ttl_seconds: number; limits: { max_connections: number | null; max_connects_per_second: number | null } }

export function OrgsPage({ onChanged }: { session: SessionInfo; onChanged: () => Promise<void> }) {
  const { data, error, reload } = useData(() => api.get<{ organizations: Org[] }>('/v2/admin/orgs'), []);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ organization_id: string; secret_key: string } | null>(null);
  const [fail, setFail] = useState<string | null>(null);
  return (
    <>
      <h1>Organizations</h1>
      <Section title="Create an organization">
        <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
          <input aria-label="Organization name" placeholder="Name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          <ActionButton
            kind="primary"
            disabled={!name.trim()}
            onError={setFail}
            onClick={async () => {
              setCreated(await api.post<{ organization_id: string; secret_key: string }>('/v2/admin/orgs', { name: name.trim() }));
              setName('');
              await reload();
              await onChanged();
            }}
          >
            Create
          </ActionButton>
        </form>
        {fail && <Notice>{fail}</Notice>}
        {created && (
          <SecretOnce title={`Organization ${created.organization_id}`} fields={[{ label: 'Organization id', value: created.organization_id }, { label: 'Secret key', value: created.secret_key, secret: true }]} onDismiss={() => setCreated(null)} />
        )}
      </Section>
      <Section title="All organizations">
        {error && <Notice>{error}</Notice>}
        {data && (
          <table>
            <thead><tr><th>Name</th><th>Id</th><th>Created</th><th>Default TTL</th><th>Max connections</th><th>Connects/s</th><th /></tr></thead>
            <tbody>
              {data.organizations.map((o) => (
                <tr key={o.organization_id}>
                  <td>{o.name}</td>
                  <td class="mono">{o.organization_id}</td>
                  <td><Time iso={o.created_at} /></td>
                  <td>{o.default_ttl_seconds} s</td>
                  <td>{o.limits.max_connections ?? <span class="muted">unlimited</span>}</td>
                  <td>{o.limits.max_connects_per_second ?? <span class="muted">unlimited</span>}</td>
                  <td class="actions"><a class="btn btn-plain btn-small" href={`#/keys/${encodeURIComponent(o.organization_id)}`}>Open</a></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
