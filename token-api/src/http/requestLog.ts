// One structured log line and one counter increment per request. The route label is the OpenAPI
// template (bounded cardinality); the query string is left out of logs and the path is clipped.
// Refusals (4xx) are sampled per address and status (1st, 2nd, 4th… with the count so far): a
// client looping on a bad key must not write a line per request.
import type { RequestHandler } from 'express';
import { clipped, LogSampler, type Logger } from '@signalgate/shared';
import type { ApiMetrics } from './metrics.js';
import { clientIp } from './requestContext.js';

export function requestLog(logger: Logger, metrics: ApiMetrics): RequestHandler {
  const refusals = new LogSampler();
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (res.locals.route as string | undefined) ?? 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const ip = clientIp(req);
      const line = { method: req.method, path: clipped(req.path), route, status: res.statusCode, ms: Math.round(ms * 10) / 10, ip, code: res.locals.errorCode };
      if (res.statusCode >= 500) return logger.error(line, 'request');
      if (res.statusCode < 400) return logger.info(line, 'request');
      const occurrence = refusals.sample(`${ip} ${res.statusCode}`, Date.now());
      if (occurrence !== null) logger.info({ ...line, refused_so_far: occurrence }, 'request');
    });
    next();
  };
}
