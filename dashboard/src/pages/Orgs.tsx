// Operator only: every organisation, creating one (its first secret key is shown once), and its
// limits and quotas (every row of shared/src/orgLimits.ts, so a new limit shows up here by itself).
import { useState } from 'preact/hooks';
import { api, type SessionInfo } from '../api.js';
import { ActionButton, Notice, SecretOnce, Section, Time, useData } from '../ui.js';
import { ORG_LIMITS } from '../../../shared/src/orgLimits.js';

interface Org { organization_id: string; name: string; created_at: string; default_ttl_seconds: number; max_ttl_seconds: number; limits: Record<string, number | null> }

/** One organisation's limits as a form: a number, or empty for "no limit". */
function LimitsEditor({ org, onSaved }: { org: Org; onSaved: () => Promise<void> }) {
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(ORG_LIMITS.map((l) => [l.field, org.limits[l.field]?.toString() ?? ''])));
  const [fail, setFail] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  return (
    <form class="limits-form" onSubmit={(e) => e.preventDefault()}>
      {ORG_LIMITS.map((l) => (
        <label key={l.field}>
          <span>{l.field}</span>
          <input aria-label={l.field} inputMode="numeric" placeholder="no limit" title={l.help} value={values[l.field]}
            onInput={(e) => { setSaved(false); setValues({ ...values, [l.field]: (e.target as HTMLInputElement).value }); }} />
        </label>
      ))}
      <ActionButton
        kind="primary"
        onError={setFail}
        onClick={async () => {
          setFail(null);
          const limits = Object.fromEntries(ORG_LIMITS.map((l) => [l.field, values[l.field]!.trim() === '' ? null : Number(values[l.field])]));
          await api.patch(`/v2/admin/orgs/${encodeURIComponent(org.organization_id)}`, { limits });
          setSaved(true);
          await onSaved();
        }}
      >
        Save limits
      </ActionButton>
      {saved && <span class="muted">Saved: brokers apply it within a second.</span>}
      {fail && <Notice>{fail}</Notice>}
    </form>
  );
}

export function OrgsPage({ onChanged }: { session: SessionInfo; onChanged: () => Promise<void> }) {
  const { data, error, reload } = useData(() => api.get<{ organizations: Org[] }>('/v2/admin/orgs'), []);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ organization_id: string; secret_key: string } | null>(null);
  const [fail, setFail] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
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
                  <td class="actions">
                    <a class="btn btn-plain btn-small" href={`#/keys/${encodeURIComponent(o.organization_id)}`}>Open</a>
                    <button type="button" class="btn btn-plain btn-small" onClick={() => setEditing(editing === o.organization_id ? null : o.organization_id)}>Limits</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {data && editing && data.organizations.some((o) => o.organization_id === editing) && (
        <Section title={`Limits and quotas of ${editing}`} hint="Empty means no limit. Quotas refuse with 0x97 (MQTT 5); limits apply per broker.">
          <LimitsEditor key={editing} org={data.organizations.find((o) => o.organization_id === editing)!} onSaved={reload} />
        </Section>
      )}
    </>
  );
}
