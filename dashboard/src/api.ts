// Talks to the token API as the signed-in session: same-origin fetch with the HttpOnly cookie, the
// CSRF token (kept in memory only, never in storage) on every state change, errors as ApiError.
export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
  }
}

export interface Org { organization_id: string; name: string }
export interface SessionInfo {
  caller: { kind: 'admin' } | { kind: 'org'; organization_id: string; key_id: string };
  organizations: Org[];
  csrf_token: string;
  idle_timeout_seconds: number;
}

let csrfToken = '';
let onSignedOut: () => void = () => {};

export function setSignedOutHandler(fn: () => void): void {
  onSignedOut = fn;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
  if (!res.ok) {
    if (res.status === 401 && path !== '/dashboard/api/session') onSignedOut();
    throw new ApiError(data.error_description ?? `HTTP ${res.status}`, res.status, data.error ?? 'error');
  }
  return data as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
};

export async function currentSession(): Promise<SessionInfo | null> {
  try {
    const s = await api.get<SessionInfo>('/dashboard/api/session');
    csrfToken = s.csrf_token;
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function signIn(key: string): Promise<SessionInfo> {
  const s = await request<SessionInfo>('POST', '/dashboard/api/session', { key });
  csrfToken = s.csrf_token;
  return s;
}

export async function signOut(): Promise<void> {
  await api.del('/dashboard/api/session').catch(() => {});
  csrfToken = '';
}

/** `/v2/admin/orgs/{org}` + rest, with every dynamic segment escaped. */
export const orgPath = (orgId: string, ...rest: string[]) =>
  ['/v2/admin/orgs', orgId, ...rest].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
