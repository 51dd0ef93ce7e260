// The contract's error body, {"error": {code, message, details?}}, and the status for each kind.
import type { ErrorRequestHandler, Response } from 'express';
import { ZodError } from 'zod';
import { DomainError, type ErrorKind } from '../src/domain/errors';
import type { Logger } from '../src/logging';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
};

export function sendError(res: Response, status: number, code: string, message: string, details?: unknown) {
  res.status(status).json({ error: { code, message, ...(details === undefined ? {} : { details }) } });
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (error instanceof DomainError) return sendError(res, STATUS[error.kind], error.code, error.message, error.details);
    if (error instanceof ZodError) {
      return sendError(
        res,
        400,
        'VALIDATION_FAILED',
        'The request is invalid.',
        error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    const e = error as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'BODY_TOO_LARGE', 'The request body is too large.');
    if (e.type === 'entity.parse.failed') return sendError(res, 400, 'INVALID_JSON', 'The request body is not valid JSON.');
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') {
      return sendError(res, 415, 'UNSUPPORTED_ENCODING', 'The request body encoding is not supported.');
    }
    // Express could not percent-decode a path segment (`/campaigns/%E0%A4%A/status`).
    if (e.status === 400 && e.message?.startsWith('Failed to decode param')) {
      return sendError(res, 400, 'MALFORMED_PATH', 'The path is not valid percent-encoded UTF-8.');
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendError(res, e.status, 'BAD_REQUEST', e.message ?? 'Bad request.');
    }
    // The route pattern, never the path: a path can hold an address or an unsubscribe token.
    const route = (req.route as { path?: string } | undefined)?.path;
    log.error('unhandled error', { error, method: req.method, route: route === undefined ? 'unmatched' : `${req.baseUrl}${route}` });
    return sendError(res, 500, 'INTERNAL', 'Internal error.');
  };
}
