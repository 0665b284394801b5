// Bodies are JSON only and bounded: 415 for another content type, 413 past the configured limit,
// 400 invalid_json for malformed JSON (the last two are raised by express.json and mapped in errorHandler).
import express, { type RequestHandler } from 'express';
import { SignalGateError } from '@signalgate/shared';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

const hasBody = (req: Parameters<RequestHandler>[0]) =>
  req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

export const requireJsonContentType: RequestHandler = (req, _res, next) => {
  if (METHODS_WITH_BODY.has(req.method) && hasBody(req) && !req.is(['application/json', 'application/*+json'])) {
    next(new SignalGateError('unsupported_media_type', 'request body must be JSON (Content-Type: application/json)'));
    return;
  }
  next();
};

export const parseJsonBody = (limitBytes: number): RequestHandler =>
  express.json({ limit: limitBytes, type: ['application/json', 'application/*+json'], strict: true });
