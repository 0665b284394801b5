// Where a tenant may point SignalGate's fetches. An organisation's key holder configures its
// identity providers, and SignalGate then fetches their JWKS and discovery documents from inside
// the operator's network: a tenant must not be able to aim those fetches at it (SSRF). So a
// provider added with an org key names https URLs on public hosts; the operator (admin key, CLI)
// may use any URL, e.g. an in-cluster Keycloak. A host name that resolves to a private address
// (DNS rebinding) is not caught here; see the README's known limits.
import { BlockList, isIP } from 'node:net';

const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['::ffff:0:0', 96]] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

/** Why `url` is not a public https target, or null when it is. */
export function nonPublicTargetProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'https:') return 'must be https';
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const family = isIP(host);
  if (family !== 0) return PRIVATE.check(host, family === 4 ? 'ipv4' : 'ipv6') ? 'names a private, loopback or link-local address' : null;
  if (host === 'localhost' || host.endsWith('.localhost') || !host.includes('.')) return 'names a local host';
  return null;
}
