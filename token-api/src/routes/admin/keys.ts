// Secret API keys of an organisation: create (secret shown once), list, revoke, rotate with overlap.
import { z } from '../../http/openapi.js';
import { defineRoute, type RouteDef } from '../../http/route.js';
import type { RouteDeps } from '../../http/deps.js';
import { assertOrgAccess } from '../../http/callers.js';
import { requestContextOf } from '../../http/requestContext.js';
import { KeyView, keyView } from '../../views/admin.js';
import { MANAGEMENT, OrgParams } from './params.js';

const KeyParams = OrgParams.extend({ key_id: z.string().max(64) });
const CreateKeyRequest = z.object({
  name: z.string().min(1).max(200).optional(),
  expires_in_seconds: z.number().int().positive().max(10 * 365 * 86_400).optional(),
}).openapi('CreateKeyRequest');
const RotateKeyRequest = z.object({
  overlap_seconds: z.number().int().min(0).max(30 * 86_400).optional()
    .openapi({ description: 'How long the old key keeps working (default 86400; 0 stops it now)' }),
}).openapi('RotateKeyRequest');
const IssuedKey = KeyView.extend({ secret_key: z.string().openapi({ description: 'Shown once' }) }).openapi('IssuedKey');
const RotatedKey = IssuedKey.extend({ previous: KeyView }).openapi('RotatedKey');
const RevokeKeyQuery = z.object({
  tokens: z.enum(['revoke', 'keep']).optional()
    .openapi({ description: 'What happens to the live tokens the key minted: revoked with it (default) or kept to their expiry' }),
});
const RevokedKey = KeyView.extend({ revoked_token_ids: z.array(z.string()) }).openapi('RevokedKey');

export function adminKeyRoutes({ services, auth }: RouteDeps): RouteDef[] {
  return [
    defineRoute({
      method: 'get', path: '/v2/admin/orgs/{org_id}/keys', tags: ['admin'], security: MANAGEMENT,
      summary: 'List API keys (prefix, created, last used, revoked, expires)',
      authenticate: (req) => auth.management(req), params: OrgParams, response: z.object({ keys: z.array(KeyView) }), errors: [401, 403, 404],
      async handle({ auth: caller, params }) {
        assertOrgAccess(caller, params.org_id);
        await services.orgs.get(params.org_id);
        const now = Date.now();
        return { keys: (await services.keys.list(params.org_id)).map((k) => keyView(k, now)) };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/keys', tags: ['admin'], security: MANAGEMENT, status: 201,
      summary: 'Create an API key; the secret is in this response only',
      authenticate: (req) => auth.management(req), params: OrgParams, body: CreateKeyRequest, response: IssuedKey, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, body }) {
        assertOrgAccess(caller, params.org_id);
        const expiresAt = body.expires_in_seconds === undefined ? null : Date.now() + body.expires_in_seconds * 1000;
        const issued = await services.keys.create(params.org_id, body.name ?? null, expiresAt);
        return { ...keyView(issued.key), secret_key: issued.secretKey };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/keys/{key_id}/revoke', tags: ['admin'], security: MANAGEMENT,
      summary: 'Revoke an API key at once; the tokens it minted are revoked with it unless tokens=keep',
      authenticate: (req) => auth.management(req), params: KeyParams, query: RevokeKeyQuery, response: RevokedKey, errors: [400, 401, 403, 404],
      async handle({ auth: caller, params, query, req }) {
        assertOrgAccess(caller, params.org_id);
        const key = await services.keys.revoke(params.org_id, params.key_id);
        const revoked = query.tokens === 'keep' ? [] : await services.tokens.revokeMintedBy(params.org_id, params.key_id, requestContextOf(req));
        return { ...keyView(key), revoked_token_ids: revoked };
      },
    }),
    defineRoute({
      method: 'post', path: '/v2/admin/orgs/{org_id}/keys/{key_id}/rotate', tags: ['admin'], security: MANAGEMENT, status: 201,
      summary: 'Issue a successor key; the old one keeps working for overlap_seconds',
      authenticate: (req) => auth.management(req), params: KeyParams, body: RotateKeyRequest, response: RotatedKey, errors: [400, 401, 403, 404, 409],
      async handle({ auth: caller, params, body }) {
        assertOrgAccess(caller, params.org_id);
        const r = await services.keys.rotate(params.org_id, params.key_id, body.overlap_seconds);
        return { ...keyView(r.key), secret_key: r.secretKey, previous: keyView(r.previous) };
      },
    }),
  ];
}
