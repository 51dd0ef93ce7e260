// The API's audit trail. Every state-changing request to /api/v1 (POST, PUT, PATCH, DELETE) that
// passed authentication appends one entry to the tenant's append-only log (DynamoDB, see
// src/adapters/dynamo/audit.ts): who (the key's id, or the token's subject), tenant, action
// (from the route pattern and method, never an id), target (the id in the path, or the one the
// response created; an address only as its SHA-256), request id, outcome (the HTTP status), time.
// Refusals are recorded too: a 403 for a missing scope (`access.denied`), a 404, a 409.
// Not recorded: requests refused before authentication (no tenant to file them under), the SNS
// endpoint (signed by AWS, no principal) and /u unsubscribe links (the recipient's own act,
// recorded on the suppression it makes).
//
// The entry is written when the handler answers, and the answer waits for that write (at most
// AUDIT_HOLD_MS): a client holding a response knows its request is on record, or that the write
// failed and was logged in full at error level and counted in audit_write_failures_total. The
// request itself never fails because of the audit log: its effect has happened by then.
import type { Request, RequestHandler, Response } from 'express';
import { Counter, type Registry } from 'prom-client';
import { fastUlid } from '../src/ids';
import { appendAudit, type AuditInput } from '../src/adapters/dynamo/audit';
import { hashOfAddress, recipientHash } from '../src/domain/recipient-hash';
import type { Logger } from '../src/logging';
import type { AuditLog } from '../src/ports';
import type { RequestAuth } from './auth';

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** How long an answer waits for its audit entry to be written before it goes out regardless. */
export const AUDIT_HOLD_MS = 3000;
const MAX_TARGET_LENGTH = 256;

/** The client's X-Request-Id when it is plain (1–128 of A–Z a–z 0–9 . _ : -), else a new ULID; returned in the response's X-Request-Id. */
export function requestIds(): RequestHandler {
  return (req, res, next) => {
    const given = req.header('x-request-id');
    const id = given !== undefined && REQUEST_ID.test(given) ? given : fastUlid();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  };
}

/** Appends entries in the background: a failure is logged with the entry and counted, never thrown. */
export class AuditTrail {
  private readonly pending = new Set<Promise<void>>();
  private readonly failures: Counter;

  constructor(
    private readonly store: Pick<AuditLog, 'appendAuditEntry'>,
    private readonly log: Pick<Logger, 'error'>,
    registry: Registry,
  ) {
    this.failures = new Counter({
      name: 'audit_write_failures_total',
      help: 'Audit entries that could not be written (each is logged in full at error level)',
      registers: [registry],
    });
  }

  /** Settles (never rejects) once the entry is written or its failure recorded. */
  record(input: AuditInput): Promise<void> {
    const write: Promise<void> = appendAudit(this.store, input).then(
      () => undefined,
      (error: unknown) => {
        this.failures.inc();
        this.log.error('audit entry not written', { audit_entry: input, error: (error as Error).message });
      },
    );
    const tracked = write.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return tracked;
  }

  /** Resolves once every entry started so far has settled (at shutdown). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}

const AREA_ALIASES: Record<string, string> = { transactions: 'campaigns' };
const VERBS: Record<string, string> = { POST: 'create', PUT: 'put', PATCH: 'update', DELETE: 'delete' };
const RENAMED: Record<string, string> = {
  'templates.presigned-url': 'templates.create',
  'files.presigned-url': 'files.create',
  'api-keys.delete': 'api-keys.revoke',
  'tenant.settings': 'tenant-settings.update',
};

/**
 * The action of a route: its area and the literal words of its pattern after the area, or the
 * method's verb when there are none (`POST /api/v1/campaigns/:id/pause` → `campaigns.pause`,
 * `DELETE /api/v1/suppressions/:email` → `suppressions.delete`). Path parameters never appear.
 */
export function actionOf(method: string, pattern: string): string {
  const [area = 'unknown', ...rest] = pattern
    .replace(/^\/api\/v1\/?/, '')
    .split('/')
    .filter(Boolean);
  const words = rest.filter((segment) => !segment.startsWith(':'));
  const action = `${AREA_ALIASES[area] ?? area}.${words.length > 0 ? words.join('.') : (VERBS[method] ?? 'request')}`;
  const plain = action.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  return RENAMED[plain] ?? plain;
}

/** The values of the pattern's parameters in `path`, in order (undefined when the path does not have the pattern's shape). */
export function paramsOf(pattern: string, path: string): string[] | undefined {
  const want = pattern.split('/').filter(Boolean);
  const have = path.split('?')[0]!.split('/').filter(Boolean);
  if (want.length !== have.length) return undefined;
  return want.flatMap((segment, i) => {
    if (!segment.startsWith(':')) return [];
    try {
      return [decodeURIComponent(have[i]!)];
    } catch {
      return [have[i]!];
    }
  });
}

/** An id as the audit log keeps it: an address only as its recipient hash (src/domain/recipient-hash.ts; the log is never erased), and bounded. */
export function auditTarget(value: string): string {
  if (value.includes('@')) return `sha256:${hashOfAddress(value) ?? recipientHash(value.trim().toLowerCase())}`;
  return value.slice(0, MAX_TARGET_LENGTH);
}

/** The id a create answered with: the first `*_id` field of the body (not the tenant's). */
function createdIdOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const entry = Object.entries(body).find(([name, value]) => name.endsWith('_id') && name !== 'tenant_id' && typeof value === 'string');
  return entry?.[1] as string | undefined;
}

/** The route pattern the request matched, under its mount point (noted on the way in: a router resets baseUrl when an error leaves it). */
function routeOf(req: Request, res: Response): string | undefined {
  const path = (req.route as { path?: string } | undefined)?.path;
  return path === undefined ? undefined : `${(res.locals.routeBase as string | undefined) ?? req.baseUrl}${path}`;
}

function entryOf(
  req: Request,
  res: Response,
  auth: RequestAuth,
  answer: { body?: unknown; aborted: boolean; outcome?: number },
): AuditInput {
  const route = routeOf(req, res);
  const outcome = answer.outcome ?? res.statusCode;
  const param = route ? paramsOf(route, req.originalUrl)?.[0] : undefined;
  const created = outcome < 300 ? createdIdOf(answer.body) : undefined;
  const target = param ?? created;
  const scope =
    outcome === 403 ? (answer.body as { error?: { details?: { scope?: unknown } } } | undefined)?.error?.details?.scope : undefined;
  // A handler may add figures of its own (a test send: how many recipients, never who).
  const noted = res.locals.auditDetails as Record<string, unknown> | undefined;
  const details = {
    ...(typeof scope === 'string' ? { required_scope: scope } : {}),
    ...(route === undefined && res.locals.routeBase ? { area: res.locals.routeBase as string } : {}),
    ...(noted && typeof noted === 'object' ? noted : {}),
  };
  return {
    tenant_id: auth.tenantId,
    principal: auth.principal,
    key_id: auth.keyId,
    action: route ? actionOf(req.method, route) : outcome === 403 ? 'access.denied' : 'request.unrouted',
    ...(target !== undefined ? { target: auditTarget(target) } : {}),
    request_id: res.locals.requestId as string,
    outcome,
    method: req.method,
    route: route ?? null,
    ...(req.ip ? { source_ip: req.ip } : {}),
    ...(answer.aborted ? { aborted: true } : {}),
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
}

/** The audit middleware for /api/v1, mounted after authentication. */
export function auditRequests(trail: AuditTrail, holdMs = AUDIT_HOLD_MS): RequestHandler {
  return (req, res, next) => {
    const auth = req.auth;
    if (!CHANGES.has(req.method) || !auth) return next();
    let body: unknown;
    let answered = false;
    let closedEarly = false;
    const json = res.json.bind(res);
    res.json = (value: unknown) => {
      body = value;
      return json(value);
    };
    const end = res.end.bind(res) as (...args: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      if (answered) return end(...args);
      answered = true;
      const written = trail.record(entryOf(req, res, auth, { body, aborted: closedEarly }));
      const hold = new Promise<void>((resolve) => setTimeout(resolve, holdMs).unref());
      void Promise.race([written, hold]).then(() => end(...args));
      return res;
    }) as Response['end'];
    // The client went away before any answer: on record now (499, as proxies log it); the
    // handler's own answer, should it still come, is recorded as well.
    res.once('close', () => {
      if (answered) return;
      closedEarly = true;
      void trail.record(entryOf(req, res, auth, { aborted: true, outcome: 499 }));
    });
    next();
  };
}
