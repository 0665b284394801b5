// Who may read /metrics: its figures are every tenant's (connections, messages, refusals per org
// are visible in labels and rates). A scraper from an allowed address (SIGNALGATE_METRICS_ALLOW,
// default loopback: a Prometheus beside the process) reads it without a key; anyone else needs the
// admin key. Addresses are matched with proxy-addr (what express' `trust proxy` uses), after
// SIGNALGATE_TRUST_PROXY has decided the client's address.
import type { Request } from 'express';
import proxyAddr from 'proxy-addr';
import { clientIp } from './requestContext.js';

/** `allow`: comma-separated addresses, CIDR ranges or proxy-addr's names (loopback, linklocal, uniquelocal); empty: none. */
export function metricsReaders(allow: string): (req: Request) => boolean {
  const list = allow.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) return () => false;
  const allowed = proxyAddr.compile(list);
  return (req) => allowed(clientIp(req), 0);
}
