// Seed 004's RemoteCredentials: fetch credentials from your HTTP endpoint and map its answer to an
// endpoint. Use it as `credentials` of a RealtimeClient, or inside `onAuthFailure`.
import type { Endpoint } from './endpoint.js';
import { CloudSignalError } from './errors.js';
import type { CredentialsProvider } from './realtimeClient.js';

export class RemoteCredentials<R = any> implements CredentialsProvider {
  constructor(
    readonly url: string,
    private readonly mapper: (response: R) => Endpoint,
    /** fetch options: method, headers (e.g. your session's Authorization), credentials: 'include'… */
    private readonly init: RequestInit = {},
  ) {}

  async get(): Promise<Endpoint> {
    let res: Response;
    try {
      res = await fetch(this.url, this.init);
    } catch (err) {
      throw new CloudSignalError('token_service_unreachable', `${this.url} unreachable: ${(err as Error).message}`);
    }
    if (!res.ok) throw new CloudSignalError(`http_${res.status}`, `${this.url} answered ${res.status}`, res.status);
    return this.mapper((await res.json()) as R);
  }

  /** Alias of get(). */
  fetch(): Promise<Endpoint> {
    return this.get();
  }
}
