// The REST publisher's channel to a broker in another process on the same data dir (`signalgate
// start --api-only` beside `--broker-only`): the endpoint the broker announced in the data dir
// (broker/src/publishEndpoint.ts), over loopback HTTP. No broker there, or none answering: 503.
import fs from 'node:fs';
import path from 'node:path';
import { PUBLISH_ENDPOINT_FILE, SignalGateError, toWire, type OutgoingMessage, type PublishChannel, type PublishEndpointFile } from '@signalgate/shared';

const TIMEOUT_MS = 5000;

type Endpoint = Pick<PublishEndpointFile, 'url' | 'secret'>;

const unreachable = () => new SignalGateError('not_ready', 'no broker reachable: start one on this data dir (signalgate start, or --broker-only beside --api-only)');

export class RemotePublishChannel implements PublishChannel {
  private endpoint: Endpoint | null = null;

  constructor(private readonly dataDir: string) {}

  async publish(orgId: string, messages: readonly OutgoingMessage[]): Promise<{ subscribers: number }[]> {
    const body = JSON.stringify(toWire(orgId, messages));
    // The broker may have restarted (a new port and secret): read the file again once.
    for (const fresh of [false, true]) {
      const endpoint = this.read(fresh);
      if (!endpoint) break;
      let res: Response;
      try {
        res = await fetch(endpoint.url, {
          method: 'POST', body, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${endpoint.secret}` },
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        if (fresh) throw Object.assign(unreachable(), { cause: err });
        continue;
      }
      const answer = (await res.json().catch(() => ({}))) as { results?: { subscribers: number }[]; error?: string; message?: string; retry_after?: number };
      // The organisation's retained-message quota, enforced by the broker: the caller's 403.
      if (res.status === 403 && answer.error === 'quota_exceeded') throw new SignalGateError('quota_exceeded', answer.message ?? 'quota exceeded');
      if (res.status === 403) continue; // another broker's secret: read the file again
      // The organisation's message rate, enforced by the broker: the caller's 429, not a broker failure.
      if (res.status === 429) throw new SignalGateError('rate_limited', answer.message ?? 'rate limited by the broker', { retryAfterSeconds: answer.retry_after ?? 1 });
      // Its body limit (SIGNALGATE_API_BODY_LIMIT, read by both processes): the caller's 413.
      if (res.status === 413) throw new SignalGateError('payload_too_large', 'the request is larger than the broker accepts (SIGNALGATE_API_BODY_LIMIT of the broker process)');
      if (!res.ok || !answer.results) {
        throw Object.assign(unreachable(), { diagnostic: `broker answered ${res.status}${answer.message ? `: ${answer.message}` : ''}` });
      }
      return answer.results;
    }
    throw unreachable();
  }

  private read(fresh: boolean): Endpoint | null {
    if (this.endpoint && !fresh) return this.endpoint;
    try {
      this.endpoint = JSON.parse(fs.readFileSync(path.join(this.dataDir, PUBLISH_ENDPOINT_FILE), 'utf8')) as Endpoint;
    } catch {
      this.endpoint = null;
    }
    return this.endpoint;
  }
}
