// A route is declared once: its zod schemas validate the request and, registered in the OpenAPI
// registry, document it. Handlers stay thin: they get parsed input and return the response body.
import type { Request, RequestHandler, Response, Router } from 'express';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z, ErrorBody, type SecurityName } from './openapi.js';
import { parseWith } from './validation.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteInput<A, B, Q, P> {
  auth: A;
  body: B;
  query: Q;
  params: P;
  req: Request;
  res: Response;
}

export interface RouteSpec<A, B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  method: Method;
  /** OpenAPI path template (`/v2/tokens/{token_id}`); the Express path is derived from it. */
  path: string;
  summary: string;
  tags: string[];
  security?: SecurityName[];
  /** Middleware run after body parsing, before authentication (rate limits). */
  before?: RequestHandler[];
  /** Runs before validation, so an unauthenticated caller learns nothing about the schema. */
  authenticate?: (req: Request) => Promise<A>;
  body?: B;
  query?: Q;
  params?: P;
  status?: number;
  response?: z.ZodType;
  /** For non-JSON responses (the handler writes them itself). */
  responseContentType?: string;
  errors?: number[];
  handle(input: RouteInput<A, z.output<B>, z.output<Q>, z.output<P>>): unknown;
}

export interface RouteDef {
  method: Method;
  path: string;
  /** `bodyParsers` run for POST/PUT/PATCH after the route is known (so logs and metrics name it). */
  mount(router: Router, bodyParsers: RequestHandler[]): void;
  document(registry: OpenAPIRegistry): void;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Invalid request (the message names the field)', 401: 'Missing or invalid credentials', 403: 'Forbidden (wrong organisation or scope beyond what is allowed)',
  404: 'Not found', 409: 'Conflict', 413: 'Body too large', 415: 'Body is not JSON', 429: 'Rate limited (see Retry-After)', 503: 'Not ready',
};

export const expressPath = (openApiPath: string) => openApiPath.replace(/\{(\w+)\}/g, ':$1');

export function defineRoute<
  A = undefined,
  B extends z.ZodType = z.ZodType<unknown>,
  Q extends z.ZodType = z.ZodType<unknown>,
  P extends z.ZodType = z.ZodType<unknown>,
>(spec: RouteSpec<A, B, Q, P>): RouteDef {
  const status = spec.status ?? 200;
  const handler: RequestHandler = async (req, res) => {
    const auth = spec.authenticate ? await spec.authenticate(req) : (undefined as A);
    // Without a schema the input is passed through untyped (the generic defaults to unknown).
    const body = (spec.body ? parseWith(spec.body, req.body ?? {}, 'body') : req.body) as z.output<B>;
    const query = (spec.query ? parseWith(spec.query, req.query, 'query') : req.query) as z.output<Q>;
    const params = (spec.params ? parseWith(spec.params, req.params, 'params') : req.params) as z.output<P>;
    const result = await spec.handle({ auth, body, query, params, req, res });
    if (!res.headersSent) res.status(status).json(result);
  };
  const tagRoute: RequestHandler = (_req, res, next) => {
    res.locals.route = spec.path;
    next();
  };

  return {
    method: spec.method,
    path: spec.path,
    mount(router, bodyParsers) {
      const parsers = spec.method === 'get' || spec.method === 'delete' ? [] : bodyParsers;
      router[spec.method](expressPath(spec.path), tagRoute, ...parsers, ...(spec.before ?? []), handler);
    },
    document(registry) {
      const responses: Record<string, { description: string; content?: Record<string, { schema: z.ZodType }> }> = {
        [status]: {
          description: spec.summary,
          ...(spec.response ? { content: { [spec.responseContentType ?? 'application/json']: { schema: spec.response } } } : {}),
        },
      };
      for (const code of spec.errors ?? []) {
        responses[code] = { description: STATUS_TEXT[code] ?? 'Error', content: { 'application/json': { schema: ErrorBody } } };
      }
      registry.registerPath({
        method: spec.method,
        path: spec.path,
        summary: spec.summary,
        tags: spec.tags,
        ...(spec.security ? { security: spec.security.map((s) => ({ [s]: [] })) } : {}),
        request: {
          ...(spec.params ? { params: spec.params as never } : {}),
          ...(spec.query ? { query: spec.query as never } : {}),
          ...(spec.body ? { body: { required: true, content: { 'application/json': { schema: spec.body } } } } : {}),
        },
        responses,
      });
    },
  };
}
