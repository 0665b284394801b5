// The one place an error becomes an HTTP response:
// `{"error": "<machine_code>", "error_description": "<human message>", "detail": "<human message>"}`.
// The official CloudSignal SDK classifies on `error` (`token_expired`, `provider_not_found`) and
// shows `error_description` or `detail` (ai-chat reads `detail`), so both carry the message.
// Typed SignalGateErrors carry their status; body-parser and Express errors are mapped by type;
// anything else is a 500 whose details go to the log only (no stack or secret in a body).
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { SignalGateError, isSignalGateError, type ErrorCode, type Logger } from '@signalgate/shared';

interface HttpLikeError {
  type?: string;
  status?: number;
  statusCode?: number;
  expose?: boolean;
}

function fromBodyParser(err: HttpLikeError, bodyLimit: number): SignalGateError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new SignalGateError('payload_too_large', `request body exceeds ${bodyLimit} bytes`);
    case 'entity.parse.failed':
      return new SignalGateError('invalid_json', 'request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new SignalGateError('unsupported_media_type', 'request body must be UTF-8 JSON');
    case 'request.aborted':
    case 'request.size.invalid':
      return new SignalGateError('invalid_request', 'request body was incomplete');
    default:
      break;
  }
  const status = err.status ?? err.statusCode;
  // Other client errors from Express itself (e.g. a malformed %-escape in the path).
  if (status !== undefined && status >= 400 && status < 500) {
    const code: ErrorCode = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return new SignalGateError(code, status === 404 ? 'not found' : 'malformed request');
  }
  return null;
}

export function createErrorHandler(logger: Logger, bodyLimit: number): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const known = isSignalGateError(err) ? err : fromBodyParser((err ?? {}) as HttpLikeError, bodyLimit);
    if (res.headersSent) {
      logger.error({ err, route: res.locals.route }, 'error after the response started');
      res.destroy();
      return;
    }
    if (!known) {
      logger.error({ err, method: req.method, route: res.locals.route ?? 'unmatched' }, 'unhandled error');
      res.status(500).json(errorBody('internal_error', 'internal error'));
      return;
    }
    // A 5xx we answered on purpose (an identity provider's keys unreachable, the database down):
    // the operator needs its cause, which the client is not told.
    if (known.status >= 500) {
      const diagnostic = (known as { diagnostic?: unknown }).diagnostic;
      logger.warn({ code: known.code, route: res.locals.route, diagnostic, cause: known.cause }, known.message);
    }
    if (known.retryAfterSeconds !== undefined) res.set('Retry-After', String(known.retryAfterSeconds));
    res.locals.errorCode = known.code;
    res.status(known.status).json(errorBody(known.code, known.message));
  };
}

export const errorBody = (code: ErrorCode, message: string) => ({ error: code, error_description: message, detail: message });

/** The last route: anything not matched above is a JSON 404. */
export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new SignalGateError('not_found', `no route for ${req.method} ${req.path}`));
};
