// Small building blocks shared by the pages: buttons that show progress, copy-to-clipboard, times,
// notices, polling, and one-shot secrets.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export function errorText(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Loads `load()` now, when `deps` change, and every `pollMs` if given; `reload` refreshes on demand. */
export function useData<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(async () => {
    try {
      setData(await loadRef.current());
      setError(null);
    } catch (err) {
      setError(errorText(err));
    }
  }, []);
  useEffect(() => {
    setData(null);
    void reload();
    if (!pollMs) return undefined;
    const t = setInterval(() => void reload(), pollMs);
    return () => clearInterval(t);
  }, deps);
  return { data, error, reload };
}

export function Notice({ kind = 'error', children }: { kind?: 'error' | 'ok' | 'info'; children: ComponentChildren }) {
  return <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</div>;
}

/** A button running an async action; shows "…" while busy and reports a failure through onError. */
export function ActionButton(props: { onClick: () => Promise<unknown>; children: ComponentChildren; kind?: 'primary' | 'danger' | 'plain'; onError?: (msg: string) => void; disabled?: boolean; title?: string; testid?: string }) {
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try {
      await props.onClick();
    } catch (err) {
      props.onError?.(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <button type="button" class={`btn btn-${props.kind ?? 'plain'}`} disabled={busy || props.disabled} onClick={run} title={props.title} data-testid={props.testid}>
      {busy ? '…' : props.children}
    </button>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to selecting the text for Ctrl+C.
      const el = document.querySelector<HTMLInputElement>(`input[data-copy="${CSS.escape(text)}"]`);
      el?.select();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return <button type="button" class="btn btn-plain btn-small" onClick={copy}>{done ? 'Copied' : label}</button>;
}

/** A value shown once (a new secret key or MQTT password), with a copy button and a warning. */
export function SecretOnce({ title, fields, onDismiss }: { title: string; fields: { label: string; value: string; secret?: boolean }[]; onDismiss: () => void }) {
  return (
    <div class="secret-once" data-testid="secret-once">
      <div class="secret-head">
        <strong>{title}</strong>
        <span class="muted">Shown once — copy it now; only a hash is stored.</span>
      </div>
      {fields.map((f) => (
        <div class="secret-row" key={f.label}>
          <label>{f.label}</label>
          <input class={f.secret ? 'mono secret' : 'mono'} readOnly value={f.value} data-copy={f.value} data-testid={`secret-${f.label.toLowerCase().replace(/\W+/g, '-')}`} />
          <CopyButton text={f.value} />
        </div>
      ))}
      <div class="row-end"><button type="button" class="btn btn-plain btn-small" onClick={onDismiss}>Done</button></div>
    </div>
  );
}

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function relative(iso: string | null, now = Date.now()): string {
  if (!iso) return '—';
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const a = Math.abs(s);
  if (a < 60) return rtf.format(s, 'second');
  if (a < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function Time({ iso }: { iso: string | null }) {
  if (!iso) return <span class="muted">—</span>;
  return <time dateTime={iso} title={new Date(iso).toLocaleString()}>{relative(iso)}</time>;
}

export function Section({ title, actions, children, hint }: { title: string; actions?: ComponentChildren; children: ComponentChildren; hint?: ComponentChildren }) {
  return (
    <section class="card">
      <header class="card-head">
        <div>
          <h2>{title}</h2>
          {hint && <p class="muted">{hint}</p>}
        </div>
        {actions && <div class="card-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

export function StatusPill({ status }: { status: string }) {
  return <span class={`pill pill-${status}`}>{status}</span>;
}
