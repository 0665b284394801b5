// API keys of the organisation: create (secret shown once), list by prefix, revoke, rotate with overlap.
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { ActionButton, Empty, Notice, SecretOnce, Section, StatusPill, Time, useData } from '../ui.js';

interface Key {
  key_id: string; prefix: string; name: string | null; status: 'active' | 'revoked' | 'expired';
  created_at: string; last_used_at: string | null; revoked_at: string | null; expires_at: string | null; replaced_by: string | null;
}
type Issued = Key & { secret_key: string };

const OVERLAPS = [
  { label: 'stop the old key now', seconds: 0 },
  { label: 'keep the old key 1 hour', seconds: 3600 },
  { label: 'keep the old key 24 hours', seconds: 86400 },
  { label: 'keep the old key 7 days', seconds: 7 * 86400 },
];

export function KeysPage({ orgId }: PageProps) {
  const { data, error, reload } = useData(() => api.get<{ keys: Key[] }>(orgPath(orgId, 'keys')), [orgId]);
  const [name, setName] = useState('');
  const [issued, setIssued] = useState<{ title: string; key: Issued } | null>(null);
  const [overlap, setOverlap] = useState(86400);
  const [fail, setFail] = useState<string | null>(null);

  const create = async () => {
    const key = await api.post<Issued>(orgPath(orgId, 'keys'), name.trim() ? { name: name.trim() } : {});
    setIssued({ title: `New key ${key.prefix}…`, key });
    setName('');
    await reload();
  };

  return (
    <>
      <Section title="Create a key" hint="Server-side code uses a secret key to mint MQTT tokens. Give each service its own key so you can revoke one without the others.">
        <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
          <input aria-label="Key name" placeholder="Name (e.g. backend-prod)" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} maxLength={200} />
          <ActionButton kind="primary" onClick={create} onError={setFail} testid="create-key">Create key</ActionButton>
        </form>
        {issued && (
          <SecretOnce title={issued.title} fields={[{ label: 'Secret key', value: issued.key.secret_key, secret: true }, { label: 'Key id', value: issued.key.key_id }]} onDismiss={() => setIssued(null)} />
        )}
      </Section>
      {fail && <Notice>{fail}</Notice>}
      <Section
        title="Keys"
        hint="Keys are listed by their public prefix; the secret is never shown again."
        actions={
          <label class="compact">
            Rotation overlap
            <select value={overlap} onChange={(e) => setOverlap(Number((e.target as HTMLSelectElement).value))}>
              {OVERLAPS.map((o) => <option key={o.seconds} value={o.seconds}>{o.label}</option>)}
            </select>
          </label>
        }
      >
        {error && <Notice>{error}</Notice>}
        {data && data.keys.length === 0 && <Empty>No keys.</Empty>}
        {data && data.keys.length > 0 && (
          <table data-testid="keys-table">
            <thead>
              <tr><th>Prefix</th><th>Name</th><th>Status</th><th>Created</th><th>Last used</th><th>Expires</th><th /></tr>
            </thead>
            <tbody>
              {data.keys.map((k) => (
                <tr key={k.key_id}>
                  <td class="mono">{k.prefix}…</td>
                  <td>{k.name ?? <span class="muted">—</span>}</td>
                  <td><StatusPill status={k.status} /></td>
                  <td><Time iso={k.created_at} /></td>
                  <td><Time iso={k.last_used_at} /></td>
                  <td><Time iso={k.expires_at} /></td>
                  <td class="actions">
                    {k.status === 'active' && (
                      <>
                        <ActionButton
                          onError={setFail}
                          title="Issue a successor key"
                          onClick={async () => {
                            const r = await api.post<Issued>(orgPath(orgId, 'keys', k.key_id, 'rotate'), { overlap_seconds: overlap });
                            setIssued({ title: `Successor of ${k.prefix}… (old key ${overlap === 0 ? 'stopped' : 'still works for the overlap'})`, key: r });
                            await reload();
                          }}
                        >
                          Rotate
                        </ActionButton>
                        <ActionButton
                          kind="danger"
                          onError={setFail}
                          onClick={async () => {
                            if (!confirm(`Revoke ${k.prefix}…? Services using it stop working at once.`)) return;
                            // The MQTT tokens it minted die with it unless the operator says otherwise.
                            const keep = confirm('Let the MQTT tokens this key minted live until they expire? (Cancel revokes them now.)');
                            await api.post(`${orgPath(orgId, 'keys', k.key_id, 'revoke')}${keep ? '?tokens=keep' : ''}`);
                            await reload();
                          }}
                        >
                          Revoke
                        </ActionButton>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
