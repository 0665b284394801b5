// Identity providers: whose users' JWTs the SDK's connectWithToken({ externalToken }) may exchange
// for MQTT credentials. The shared secret of an HS256 provider is sent once and never shown again.
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { ActionButton, Empty, Notice, Section, Time, useData } from '../ui.js';

interface Provider {
  provider: string; type: string; issuer: string; audience: string | null; jwks_url: string | null;
  verification: 'jwks' | 'secret' | 'discovery'; user_id_claim: string; email_claim: string; created_at: string;
}

const TYPES = [
  { id: 'supabase', hint: 'Issuer https://<project>.supabase.co/auth/v1 — JWKS preset, or the legacy JWT secret' },
  { id: 'firebase', hint: 'Issuer https://securetoken.google.com/<project-id> — Google keys and audience preset' },
  { id: 'auth0', hint: 'Issuer https://<tenant>.auth0.com/ — JWKS preset; set the API audience' },
  { id: 'clerk', hint: 'Issuer https://<app>.clerk.accounts.dev — JWKS preset' },
  { id: 'oidc', hint: 'Any OpenID issuer — JWKS from its discovery document unless given' },
];

const empty = { type: 'supabase', issuer: '', name: '', jwks_url: '', secret: '', audience: '', user_id_claim: '', email_claim: '' };

export function ProvidersPage({ orgId }: PageProps) {
  const { data, error, reload } = useData(() => api.get<{ providers: Provider[] }>(orgPath(orgId, 'providers')), [orgId]);
  const [form, setForm] = useState(empty);
  const [fail, setFail] = useState<string | null>(null);
  const field = (key: keyof typeof empty) => (e: Event) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value });

  const add = async () => {
    // Only what was filled in: the server fills the type's defaults.
    const body = Object.fromEntries(Object.entries(form).filter(([, v]) => v.trim() !== '').map(([k, v]) => [k, v.trim()]));
    await api.post(orgPath(orgId, 'providers'), body);
    setForm(empty);
    setFail(null);
    await reload();
  };

  return (
    <>
      <Section title="Add an identity provider" hint={TYPES.find((t) => t.id === form.type)?.hint ?? ''}>
        <form class="stacked-form" onSubmit={(e) => e.preventDefault()} data-testid="provider-form">
          <label>Type
            <select value={form.type} onChange={field('type')} aria-label="Provider type">
              {TYPES.map((t) => <option key={t.id} value={t.id}>{t.id}</option>)}
            </select>
          </label>
          <label>Issuer <input aria-label="Issuer" placeholder="https://…" value={form.issuer} onInput={field('issuer')} maxLength={2048} /></label>
          <label>Name <input aria-label="Name" placeholder={`default: ${form.type}`} value={form.name} onInput={field('name')} maxLength={100} /></label>
          <label>JWKS URL <input aria-label="JWKS URL" placeholder="default: the preset" value={form.jwks_url} onInput={field('jwks_url')} maxLength={2048} /></label>
          <label>Shared secret <input aria-label="Shared secret" type="password" placeholder="instead of a JWKS (HS256)" value={form.secret} onInput={field('secret')} maxLength={4096} autocomplete="off" /></label>
          <label>Audience <input aria-label="Audience" placeholder={form.type === 'oidc' || form.type === 'auth0' ? 'required (* = any audience)' : 'default: the preset'} value={form.audience} onInput={field('audience')} maxLength={512} /></label>
          <label>User id claim <input aria-label="User id claim" placeholder="sub" value={form.user_id_claim} onInput={field('user_id_claim')} maxLength={100} /></label>
          <label>Email claim <input aria-label="Email claim" placeholder="email" value={form.email_claim} onInput={field('email_claim')} maxLength={100} /></label>
          <ActionButton kind="primary" onClick={add} onError={setFail} testid="add-provider">Add provider</ActionButton>
        </form>
      </Section>
      {fail && <Notice>{fail}</Notice>}
      <Section title="Providers" hint="Tokens already exchanged stay valid after a provider is removed, until they expire or are revoked.">
        {error && <Notice>{error}</Notice>}
        {data && data.providers.length === 0 && <Empty>No identity providers: only secret keys can mint tokens.</Empty>}
        {data && data.providers.length > 0 && (
          <table data-testid="providers-table">
            <thead>
              <tr><th>Name</th><th>Type</th><th>Issuer</th><th>Verified by</th><th>Audience</th><th>Claims</th><th>Added</th><th /></tr>
            </thead>
            <tbody>
              {data.providers.map((p) => (
                <tr key={p.provider}>
                  <td class="mono">{p.provider}</td>
                  <td>{p.type}</td>
                  <td class="mono">{p.issuer}</td>
                  <td>{p.verification === 'jwks' ? <span class="mono" title={p.jwks_url ?? ''}>JWKS</span> : p.verification === 'secret' ? 'shared secret' : 'OIDC discovery'}</td>
                  <td>{p.audience === null || p.audience === '*' ? <span class="muted">any</span> : p.audience}</td>
                  <td class="mono">{p.user_id_claim}, {p.email_claim}</td>
                  <td><Time iso={p.created_at} /></td>
                  <td class="actions">
                    <ActionButton
                      kind="danger"
                      onError={setFail}
                      onClick={async () => {
                        if (!confirm(`Remove ${p.provider}? Its users can no longer exchange tokens.`)) return;
                        await api.del(orgPath(orgId, 'providers', p.provider));
                        await reload();
                      }}
                    >
                      Remove
                    </ActionButton>
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
