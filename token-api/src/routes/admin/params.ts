import { z } from '../../http/openapi.js';

export const OrgParams = z.object({ org_id: z.string().max(64).openapi({ example: 'org_k7xm4pqr2n5t' }) });
export const MANAGEMENT: ('adminKey' | 'adminHeader' | 'orgKey')[] = ['adminKey', 'adminHeader', 'orgKey'];
export const ADMIN_ONLY: ('adminKey' | 'adminHeader')[] = ['adminKey', 'adminHeader'];
export const Deleted = z.object({ deleted: z.literal(true) }).openapi('Deleted');
