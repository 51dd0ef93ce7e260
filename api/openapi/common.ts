// Building blocks of the OpenAPI document, shared by its parts (index.ts and the area files
// beside it: each area exports its tags, paths and schemas, and index.ts merges them).
import { z } from 'zod';
import { MAX_ID_LENGTH } from '../ids';

export type Responses = Record<string, Record<string, unknown>>;

export const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
export const html = { content: { 'text/html': { schema: { type: 'string' } } } };
export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const ok = (description: string, schema: unknown) => ({ description, ...json(schema) });
export const err = (description: string) => ({ description, ...json(ref('Error')) });
export const idParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH },
});
export const emailParam = { name: 'email', in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 254 } };
export const body = (schema: z.ZodType) => ({ required: true, ...json(z.toJSONSchema(schema, { io: 'input' })) });
export const nullable = (type: string) => ({ type: [type, 'null'] });
export const dateTime = { type: 'string', format: 'date-time' };
export const cursorParam = { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 4096 } };
export const limitParam = {
  name: 'limit',
  in: 'query',
  required: false,
  schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
};

/**
 * The responses every /api/v1 operation can give besides its own: 401, 429 and 503 from the
 * API key and bearer token checks; for operations that read a body, 400 (not JSON, or not the schema), 413 (over 64 KiB)
 * and 415 (a charset or Content-Encoding the server does not read); for operations with path
 * parameters, 400 for a path that is not valid percent-encoding and 404 for ids that name
 * nothing the caller's tenant owns.
 */
export function v1(responses: Responses, opts: { body?: boolean; path?: boolean; notFound?: string } = {}): Responses {
  const out: Responses = { ...responses };
  const bad = [
    opts.body && 'the body is not JSON or does not match the schema',
    opts.path && 'the path is not valid percent-encoding (MALFORMED_PATH)',
  ]
    .filter(Boolean)
    .join('; ');
  if (bad && !out['400']) out['400'] = err(`Invalid request: ${bad}`);
  if (opts.body) {
    out['413'] ??= err('The body is larger than 64 KiB (BODY_TOO_LARGE)');
    out['415'] ??= err('The body charset or Content-Encoding is not supported (UNSUPPORTED_ENCODING)');
  }
  if (opts.path) out['404'] ??= err(opts.notFound ?? 'Not found, or owned by another tenant (NOT_FOUND)');
  out['401'] = err(
    'Missing, unknown, revoked or expired API key (MISSING_API_KEY, UNKNOWN_API_KEY, API_KEY_REVOKED, API_KEY_EXPIRED); ' +
      'or a bearer token that is invalid (INVALID_TOKEN; details: reason), names another tenant than the key (TOKEN_TENANT_MISMATCH), or is missing where the tenant requires one (TOKEN_REQUIRED)',
  );
  out['403'] ??= err('The credential lacks the scope this operation needs (FORBIDDEN; details: scope)');
  out['503'] ??= err("The bearer token's issuer cannot be reached to check it (TOKEN_ISSUER_UNAVAILABLE)");
  out['429'] = {
    description: "Too many requests for this tenant's key, or too many unknown keys from this address (RATE_LIMITED)",
    headers: {
      'Retry-After': { required: true, description: 'Seconds until the next request is accepted', schema: { type: 'integer', minimum: 0 } },
    },
    ...json(ref('Error')),
  };
  return out;
}

export const meta = (operationId: string, summary: string, tag: string) => ({ operationId, summary, tags: [tag] });

/** One area of the API documented in a file of its own: merged into the document by index.ts. */
export interface ApiArea {
  tags: { name: string; description: string }[];
  paths: Record<string, Record<string, { responses: Responses } & Record<string, unknown>>>;
  schemas: Record<string, unknown>;
}
