// Templates: presigned upload of the HTML body, confirm (size, parse, placeholders, pin the
// bytes), get and list; versions, each uploaded and confirmed on its own and immutable once
// confirmed (issue 15, item 2); preview and test send (item 3).
import { Router, type Request } from 'express';
import { ulid } from 'ulid';
import { z } from 'zod';
import { DomainError, notFound } from '../../src/domain/errors';
import { s3Keys } from '../../src/adapters/s3';
import { keys } from '../../src/adapters/dynamo/keys';
import type { TemplateRecord, TemplateVersionRecord } from '../../src/adapters/dynamo/types';
import type { TemplatePlaceholders } from '../../src/domain/recipient-csv';
import { hasControlCharacter, parseMailbox } from '../../src/domain/sender-identity';
import { checkSenders } from '../../src/identities/sender-identities';
import { chooseVersion, confirmVersion, createVersion } from '../../src/templates/versions';
import { MAX_TEST_RECIPIENTS, preview, testSend } from '../../src/templates/preview';
import { tenantOf } from '../auth';
import { pathId } from '../ids';
import { decodeCursor, encodeCursor } from '../pagination';
import { requireScope } from '../scopes';
import type { ApiDeps } from '../deps';

// No control character (C0 or C1: line breaks, TAB, NUL, ESC…) in a header a tenant writes:
// none has a place in a subject or a display name, and some make clients show other text.
const headerSafe = z.string().refine((s) => !hasControlCharacter(s), 'must not contain control characters (line breaks, tabs, NUL…)');
const subjectField = headerSafe.pipe(z.string().min(1).max(998));
const fromField = z
  .string()
  .min(3)
  .max(320)
  .pipe(headerSafe)
  .refine(
    (s) => parseMailbox(s) !== null,
    'must be an address or "Name <address>" (a name without @, encoded-words or control characters)',
  );
const replyToField = z.string().email().max(320);
const textField = z.string().max(512 * 1024);
/** Version numbers a path or body may name (zero-padded to six digits in the key). */
const MAX_VERSION_NUMBER = 999_999;

export const createTemplateBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    subject: subjectField,
    from: fromField,
    reply_to: replyToField.optional(),
    text: textField.optional(),
  })
  .strict();

/** A new version: what it changes; the rest is the latest version's (null drops reply_to or text). */
export const createVersionBody = z
  .object({
    subject: subjectField.optional(),
    from: fromField.optional(),
    reply_to: replyToField.nullable().optional(),
    text: textField.nullable().optional(),
  })
  .strict();

const versionField = z.number().int().min(1).max(MAX_VERSION_NUMBER);
/** One recipient row, as a CSV row gives it (column name → text); `email` is the address, if given. */
const rowField = z.record(z.string().min(1).max(1024), z.string().max(64 * 1024)).refine((row) => Object.keys(row).length <= 1000, {
  message: 'at most 1000 columns',
});
export const previewBody = z.object({ version: versionField.optional(), data: rowField }).strict();
export const testSendBody = z
  .object({
    version: versionField.optional(),
    to: z.array(z.string().email().max(254)).min(1).max(MAX_TEST_RECIPIENTS),
    data: rowField.default({}),
  })
  .strict();

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(4096).optional(),
});

export const templateView = (t: TemplateRecord) => ({
  template_id: t.template_id,
  name: t.name,
  subject: t.subject,
  from: t.from,
  reply_to: t.reply_to ?? null,
  text: t.text ?? null,
  status: t.status,
  placeholders: t.placeholders ?? [],
  ...placeholderLists(t),
  created_at: t.created_at,
  updated_at: t.updated_at,
});

/**
 * Which placeholders a recipient row must fill and which it may leave blank or out. A template
 * confirmed before the two were told apart requires every placeholder, as it did then.
 */
export const placeholderLists = (t: TemplatePlaceholders) => ({
  required_placeholders: t.required_placeholders ?? t.placeholders ?? [],
  optional_placeholders: t.optional_placeholders ?? [],
});

/** A version as the API shows it; `text` only where one version is asked for (a listing leaves it out). */
const versionView = (v: TemplateVersionRecord, withText = false) => ({
  version: v.version,
  status: v.status,
  subject: v.subject,
  from: v.from,
  reply_to: v.reply_to ?? null,
  ...(withText ? { text: v.text ?? null } : {}),
  placeholders: v.placeholders ?? [],
  ...placeholderLists(v),
  created_at: v.created_at,
  updated_at: v.updated_at,
});

/** What a confirm answers (the first confirm's answer, as it has always been; a version's adds its number). */
const confirmedView = (v: TemplateVersionRecord) => ({
  template_id: v.template_id,
  status: 'READY' as const,
  placeholders: v.placeholders ?? [],
  ...placeholderLists(v),
});

/** A template in the tenant's list: what tells templates apart (its versions are on GET /templates/{id}). */
const listedView = (t: TemplateRecord) => ({
  template_id: t.template_id,
  name: t.name,
  subject: t.subject,
  from: t.from,
  status: t.status,
  created_at: t.created_at,
  updated_at: t.updated_at,
});

/** A version number in a path: a plain positive integer, else it names nothing (404, no lookup). */
function pathVersion(raw: string): number {
  if (!/^[1-9]\d{0,5}$/.test(raw)) throw notFound('template version', JSON.stringify(raw.slice(0, 16)));
  return Number(raw);
}

/** The list cursor: a key of the tenant's template index and nothing else (400 otherwise). */
function listCursor(raw: string | undefined, tenantId: string): Record<string, string> | undefined {
  const value = decodeCursor<Record<string, unknown>>(raw);
  if (value === undefined) return undefined;
  const { GSI2PK } = keys.tenantTemplate(tenantId, '', '');
  const { PK, SK, GSI2SK } = value;
  const valid =
    Object.keys(value).length === 4 &&
    value.GSI2PK === GSI2PK &&
    typeof PK === 'string' &&
    /^TEMPLATE#[A-Za-z0-9_-]{1,64}$/.test(PK) &&
    SK === 'METADATA' &&
    typeof GSI2SK === 'string' &&
    GSI2SK.length <= 200;
  if (!valid) throw new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');
  return { PK, SK, GSI2PK, GSI2SK };
}

export function templateRoutes(deps: ApiDeps): Router {
  const router = Router();
  const ttl = deps.config.PRESIGNED_URL_TTL_SECONDS;
  const maxVersions = deps.config.TEMPLATE_MAX_VERSIONS;
  const confirmDeps = { templates: deps.templates, objects: deps.objects, maxTemplateBytes: deps.config.MAX_TEMPLATE_BYTES };
  const idOf = (req: { params: Record<string, unknown> }) => pathId('template', String(req.params.templateId));

  /** Only the tenant's own verified identities may send (checked again before every send chunk). */
  async function sendersOf(tenantId: string, senders: { from: string; reply_to?: string }) {
    const sender = await checkSenders({ identities: deps.identities, verifier: deps.identityVerifier }, tenantId, senders);
    if (!sender.ok) {
      throw new DomainError('unprocessable', 'SENDER_NOT_VERIFIED', `${sender.field}: ${sender.reason}.`, {
        field: sender.field,
        address: sender.address,
      });
    }
    return sender;
  }

  router.get('/', async (req, res) => {
    const tenantId = tenantOf(req);
    const query = listQuery.parse(req.query);
    const page = await deps.templates.listTemplates(tenantId, query.limit, listCursor(query.cursor, tenantId));
    res.json({ items: page.items.map(listedView), next_cursor: encodeCursor(page.cursor) });
  });

  router.post('/presigned-url', async (req, res) => {
    const body = createTemplateBody.parse(req.body);
    const tenantId = tenantOf(req);
    await sendersOf(tenantId, body);
    const templateId = ulid();
    const at = new Date().toISOString();
    const record: TemplateRecord = {
      template_id: templateId,
      tenant_id: tenantId,
      ...body,
      status: 'PENDING_UPLOAD',
      s3_key: s3Keys.template(tenantId, templateId),
      created_at: at,
      updated_at: at,
    };
    await deps.store.putTemplate(record);
    const upload = await deps.objects.presignPut(record.s3_key, 'text/html', ttl);
    res.status(201).json({ template_id: templateId, ...upload });
  });

  // Confirm fixes the template (its version 1): the bytes checked here are copied to a key no
  // presigned URL names, and every send reads that copy, whatever the upload URL receives until it expires.
  router.post('/:templateId/confirm', async (req, res) => {
    res.json(confirmedView(await confirmVersion(confirmDeps, tenantOf(req), idOf(req), 1)));
  });

  router.post('/:templateId/versions', async (req, res) => {
    const body = createVersionBody.parse(req.body);
    const tenantId = tenantOf(req);
    const version = await createVersion(
      { templates: deps.templates, maxVersions, checkSenders: async (senders) => void (await sendersOf(tenantId, senders)) },
      tenantId,
      idOf(req),
      body,
    );
    const upload = await deps.objects.presignPut(version.s3_key, 'text/html', ttl);
    res.status(201).json({ template_id: version.template_id, version: version.version, status: version.status, ...upload });
  });

  const versionOf = async (req: Request<{ templateId: string; version: string }>) => {
    const n = pathVersion(req.params.version);
    const version = await deps.templates.getTemplateVersion(tenantOf(req), idOf(req), n);
    if (!version) throw notFound('template version', `${req.params.templateId} v${n}`);
    return version;
  };

  router.get('/:templateId/versions/:version', async (req, res) => {
    const version = await versionOf(req);
    res.json({ template_id: version.template_id, ...versionView(version, true) });
  });

  // A new upload URL for a version still waiting for its bytes (the first one expired); a
  // confirmed version takes no more uploads.
  router.post('/:templateId/versions/:version/presigned-url', async (req, res) => {
    const version = await versionOf(req);
    if (version.status !== 'PENDING_UPLOAD') {
      throw new DomainError(
        'conflict',
        'TEMPLATE_VERSION_CONFIRMED',
        `Version ${version.version} is confirmed and cannot change; create a new version.`,
        {
          version: version.version,
          status: version.status,
        },
      );
    }
    const upload = await deps.objects.presignPut(version.s3_key, 'text/html', ttl);
    res.json({ template_id: version.template_id, version: version.version, status: version.status, ...upload });
  });

  router.post('/:templateId/versions/:version/confirm', async (req, res) => {
    const confirmed = await confirmVersion(confirmDeps, tenantOf(req), idOf(req), pathVersion(req.params.version));
    res.json({ ...confirmedView(confirmed), version: confirmed.version });
  });

  router.get('/:templateId', async (req, res) => {
    const tenantId = tenantOf(req);
    const templateId = idOf(req);
    const [template, versions] = await Promise.all([
      deps.store.getTemplate(tenantId, templateId),
      deps.templates.listTemplateVersions(tenantId, templateId, maxVersions),
    ]);
    if (!template || !versions) throw notFound('template', templateId);
    res.json({
      ...templateView(template),
      latest_version: versions.at(-1)!.version,
      latest_confirmed_version: versions.filter((v) => v.status === 'READY').at(-1)?.version ?? null,
      versions: versions.map((v) => versionView(v)),
    });
  });

  router.post('/:templateId/preview', async (req, res) => {
    const body = previewBody.parse(req.body);
    const version = await chooseVersion(deps.templates, tenantOf(req), idOf(req), body.version, maxVersions);
    const rendered = await preview({ objects: deps.objects }, version, body.data);
    res.json({ template_id: version.template_id, version: version.version, ...rendered, text: rendered.text ?? null });
  });

  // Sending mail needs the campaigns scope besides the templates one.
  router.post('/:templateId/test-send', requireScope('campaigns:write'), async (req, res) => {
    const body = testSendBody.parse(req.body);
    const tenantId = tenantOf(req);
    const version = await chooseVersion(deps.templates, tenantId, idOf(req), body.version, maxVersions);
    // As before every send chunk: the sender must still be the tenant's verified identity.
    const sender = await sendersOf(tenantId, version);
    const results = await testSend(
      {
        objects: deps.objects,
        templates: deps.templates,
        suppressions: deps.erasedRecipients,
        messenger: deps.messenger,
        maxPerHour: deps.config.TEST_SEND_MAX_PER_HOUR,
      },
      version,
      sender,
      body.to,
      body.data,
    ).catch((error: unknown) => {
      // The limit is per clock hour: the next one starts afresh.
      if (error instanceof DomainError && error.code === 'TEST_SEND_LIMIT')
        res.setHeader('Retry-After', String(3600 - (Math.floor(Date.now() / 1000) % 3600)));
      throw error;
    });
    // The audit entry counts the recipients; it never holds their addresses.
    res.locals.auditDetails = { recipients: results.length, sent: results.filter((r) => r.status === 'sent').length };
    res.json({ template_id: version.template_id, version: version.version, test: true, results });
  });

  return router;
}
