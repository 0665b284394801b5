import { useState } from 'preact/hooks';
import { signIn, type SessionInfo } from '../api.js';
import { Notice, errorText } from '../ui.js';

export function SignIn({ onSignedIn }: { onSignedIn: (s: SessionInfo) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await signIn(key);
      setKey('');
      onSignedIn(s);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="center">
      <form class="card signin" onSubmit={submit}>
        <div class="brand big"><span class="logo" aria-hidden="true">◆</span> SignalGate</div>
        <p class="muted">Sign in with the operator's admin key (every organization) or an organization's secret key (<code>sk_…</code>, that organization only).</p>
        <label class="field">
          <span>Key</span>
          <input type="password" autoComplete="off" name="key" value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="adm_… or sk_…" required autoFocus />
        </label>
        {error && <Notice>{error}</Notice>}
        <button type="submit" class="btn btn-primary" disabled={busy || key.length === 0}>{busy ? 'Signing in…' : 'Sign in'}</button>
        <p class="muted small">The key is sent once; the browser keeps only an HttpOnly session cookie.</p>
      </form>
    </main>
  );
}
