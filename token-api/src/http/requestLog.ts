// One structured log line and one counter increment per request. The route label is the OpenAPI
// template (bounded cardinality); the query string is left out of logs.
import type { RequestHandler } from 'express';
import type { Logger } from '@signalgate/shared';
import type { ApiMetrics } from './metrics.js';
import { clientIp } from './requestContext.js';

export function requestLog(logger: Logger, metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (res.locals.route as string | undefined) ?? 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: req.method, path: req.path, route, status: res.statusCode, ms: Math.round(ms * 10) / 10, ip: clientIp(req), code: res.locals.errorCode };
      if (res.statusCode >= 500) logger.error(line, 'request');
      else logger.info(line, 'request');
    });
    next();
  };
}
