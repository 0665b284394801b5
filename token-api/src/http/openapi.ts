// The OpenAPI 3.1 document is generated from the same zod schemas that validate requests, so the
// document cannot drift from what the service accepts.
import { z } from 'zod';
import { OpenAPIRegistry, OpenApiGeneratorV31, extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';

extendZodWithOpenApi(z);

export { z };

export const ErrorBody = z
  .object({
    error: z.string().openapi({ description: 'Machine code', example: 'invalid_request' }),
    error_description: z.string().openapi({ example: 'user_email: expected string, received number' }),
    detail: z.string().openapi({ description: 'Same text as error_description (read by CloudSignal v1 clients)' }),
  })
  .openapi('Error');

/** How a route authenticates, as named in `components.securitySchemes`. */
export type SecurityName = 'orgKey' | 'adminKey' | 'adminHeader' | 'mqttCredential';

export function createRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'orgKey', {
    type: 'http', scheme: 'bearer', description: "The organisation's secret key (`sk_…`, legacy `cs_…`).",
  });
  registry.registerComponent('securitySchemes', 'adminKey', { type: 'http', scheme: 'bearer', description: 'The operator admin key (`adm_…`).' });
  registry.registerComponent('securitySchemes', 'adminHeader', { type: 'apiKey', in: 'header', name: 'X-Admin-Key' });
  registry.registerComponent('securitySchemes', 'mqttCredential', {
    type: 'http', scheme: 'bearer', description: 'A live MQTT password (`tkn_…`) holding the needed permission.',
  });
  return registry;
}

export function generateDocument(registry: OpenAPIRegistry, version: string): object {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'SignalGate token API',
      version,
      description: 'Self-hosted, wire-compatible CloudSignal token API: mint, refresh and revoke short-lived MQTT credentials.',
    },
  });
}
