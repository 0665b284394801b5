// Tokens: live tokens per user with expiry, revoke (the broker ends their sessions within a
// second), and minting a token for a user from the page (credentials shown once).
import { useState } from 'preact/hooks';
import { api, orgPath } from '../api.js';
import type { PageProps } from '../main.js';
import { ActionButton, Empty, Notice, SecretOnce, Section, StatusPill, Time, useData } from '../ui.js';

interface Token {
  token_id: string; user_id: string | null; user_email: string | null; username: string; integration_id: string | null;
  status: 'live' | 'expired' | 'revoked'; issued_at: string; expires_at: string; refreshed_at: string | null;
}
interface Minted { username: string; password: string; token_id: string; expires_at: string; user_id: string }
interface Integration { integration_id: string }

export function TokensPage({ orgId }: PageProps) {
  const [user, setUser] = useState('');
  const [liveOnly, setLiveOnly] = useState(true);
  const query = new URLSearchParams({ ...(user.trim() ? { user: user.trim() } : {}), live: String(liveOnly) });
  const tokens = useData(() => api.get<{ tokens: Token[] }>(`${orgPath(orgId, 'tokens')}?${query}`), [orgId, user, liveOnly], 5000);
  const ints = useData(() => api.get<{ integrations: Integration[] }>(orgPath(orgId, 'integrations')), [orgId]);
  const [mint, setMint] = useState({ who: '', integration_id: '', ttl: '' });
  const [minted, setMinted] = useState<Minted | null>(null);
  const [fail, setFail] = useState<string | null>(null);

  const doMint = async () => {
    const who = mint.who.trim();
    const body: Record<string, unknown> = who.includes('@') ? { user_email: who } : { user_id: who };
    if (mint.integration_id) body.integration_id = mint.integration_id;
    if (mint.ttl) body.ttl_seconds = Number(mint.ttl);
    setMinted(await api.post<Minted>(orgPath(orgId, 'tokens'), body));
    await tokens.reload();
  };

  return (
    <>
      {fail && <Notice>{fail}</Notice>}
      <Section title="Mint a token" hint="For testing a client by hand. Your backend normally mints tokens with its secret key.">
        <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
          <input aria-label="Mint user" placeholder="User id or email" value={mint.who} onInput={(e) => setMint({ ...mint, who: (e.target as HTMLInputElement).value })} />
          <select aria-label="Mint integration" value={mint.integration_id} onChange={(e) => setMint({ ...mint, integration_id: (e.target as HTMLSelectElement).value })}>
            <option value="">No integration</option>
            {(ints.data?.integrations ?? []).map((i) => <option key={i.integration_id} value={i.integration_id}>{i.integration_id}</option>)}
          </select>
          <input aria-label="Mint TTL" class="narrow" type="number" min={1} placeholder="TTL (s)" value={mint.ttl} onInput={(e) => setMint({ ...mint, ttl: (e.target as HTMLInputElement).value })} />
          <ActionButton kind="primary" disabled={!mint.who.trim()} onClick={doMint} onError={setFail} testid="mint-token">Mint token</ActionButton>
        </form>
        {minted && (
          <SecretOnce
            title={`MQTT credentials for ${minted.user_id} (expire ${new Date(minted.expires_at).toLocaleString()})`}
            fields={[{ label: 'Username', value: minted.username }, { label: 'Password', value: minted.password, secret: true }, { label: 'Token id', value: minted.token_id }]}
            onDismiss={() => setMinted(null)}
          />
        )}
      </Section>
      <Section
        title="Tokens"
        actions={
          <>
            <input aria-label="Filter by user" placeholder="Filter by user id or email" value={user} onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
            <label class="compact"><input type="checkbox" checked={liveOnly} onChange={(e) => setLiveOnly((e.target as HTMLInputElement).checked)} /> live only</label>
          </>
        }
      >
        {tokens.error && <Notice>{tokens.error}</Notice>}
        {tokens.data && tokens.data.tokens.length === 0 && <Empty>No tokens{user ? ` for '${user}'` : ''}.</Empty>}
        {tokens.data && tokens.data.tokens.length > 0 && (
          <table data-testid="tokens-table">
            <thead><tr><th>User</th><th>Username</th><th>Integration</th><th>Status</th><th>Issued</th><th>Expires</th><th /></tr></thead>
            <tbody>
              {tokens.data.tokens.map((t) => (
                <tr key={t.token_id}>
                  <td>{t.user_id ?? '—'}{t.user_email && <div class="muted small">{t.user_email}</div>}</td>
                  <td class="mono small">{t.username}</td>
                  <td>{t.integration_id ?? <span class="muted">—</span>}</td>
                  <td><StatusPill status={t.status} /></td>
                  <td><Time iso={t.issued_at} /></td>
                  <td><Time iso={t.expires_at} /></td>
                  <td class="actions">
                    {t.status === 'live' && (
                      <ActionButton kind="danger" onError={setFail} onClick={async () => { await api.post(orgPath(orgId, 'tokens', t.token_id, 'revoke')); await tokens.reload(); }}>
                        Revoke
                      </ActionButton>
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
