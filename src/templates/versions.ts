// Template versions (issue 15, item 2): confirming an upload (shared by a template's first
// confirm and every later version's), making a new version, and choosing the version a campaign,
// a preview or a test send uses. A confirmed version never changes: its bytes are pinned to a key
// no presigned URL names, and the record is written READY once, only from PENDING_UPLOAD.
import { ulid } from 'ulid';
import { DomainError, notFound } from '../domain/errors';
import { parseTemplate } from '../domain/template';
import { s3Keys, type ObjectStore } from '../adapters/s3';
import type { ConfirmedFields } from '../adapters/dynamo/templates';
import type { TemplateVersionRecord } from '../adapters/dynamo/types';
import type { TemplateVersions } from '../ports';

export type VersionStore = Pick<TemplateVersions, 'getTemplateVersion' | 'listTemplateVersions'>;

type ConfirmDeps = {
  templates: Pick<TemplateVersions, 'getTemplateVersion' | 'confirmTemplateVersion'>;
  objects: Pick<ObjectStore, 'readUpTo' | 'putBytes' | 'delete'>;
  maxTemplateBytes: number;
};

/**
 * Checks the uploaded bytes (size, Liquid, placeholders) and pins them: the copy every send of
 * this version reads. One ranged read of at most limit + 1 bytes, so the size is checked on the
 * very bytes parsed and pinned.
 */
async function checkAndPin(deps: ConfirmDeps, version: TemplateVersionRecord): Promise<ConfirmedFields> {
  const limit = deps.maxTemplateBytes;
  const upload = await deps.objects.readUpTo(version.s3_key, limit);
  if (!upload) throw new DomainError('not_found', 'TEMPLATE_NOT_UPLOADED', 'Nothing was uploaded for this template.');
  if (upload.size > limit || upload.body.length > limit) {
    throw new DomainError('too_large', 'TEMPLATE_TOO_LARGE', `The template is ${upload.size} bytes; the limit is ${limit}.`);
  }
  const parsed = parseTemplate({ html: upload.body.toString('utf8'), subject: version.subject, text: version.text });
  if (!parsed.ok) {
    const details = { part: parsed.part, line: parsed.line, column: parsed.column };
    if (parsed.code === 'RENDER_TOO_LARGE') {
      throw new DomainError('unprocessable', 'RENDER_TOO_LARGE', `The ${parsed.part} ${parsed.message}.`, details);
    }
    if (parsed.code === 'PLACEHOLDER_CONFLICT') {
      throw new DomainError('unprocessable', 'PLACEHOLDER_CONFLICT', `In the ${parsed.part}, ${parsed.message}.`, details);
    }
    throw new DomainError('unprocessable', 'TEMPLATE_SYNTAX_ERROR', `Liquid syntax error in ${parsed.part}: ${parsed.message}`, details);
  }
  const pinnedKey = s3Keys.pinnedTemplate(version.tenant_id, version.template_id, ulid());
  await deps.objects.putBytes(pinnedKey, upload.body, 'text/html');
  return {
    placeholders: parsed.placeholders,
    required_placeholders: parsed.required,
    optional_placeholders: parsed.optional,
    pinned_key: pinnedKey,
    pinned_bytes: upload.body.length,
  };
}

/**
 * Confirms version `n` of the tenant's template and returns it READY. Confirmed once, confirmed
 * for good: a repeat reads nothing from S3 and answers the same. Two confirms at once both check
 * and pin, one write wins, and the loser drops its copy and answers with the winner's version.
 */
export async function confirmVersion(deps: ConfirmDeps, tenantId: string, templateId: string, n: number): Promise<TemplateVersionRecord> {
  const version = await deps.templates.getTemplateVersion(tenantId, templateId, n);
  if (!version) throw notFound(n === 1 ? 'template' : 'template version', n === 1 ? templateId : `${templateId} v${n}`);
  if (version.status === 'READY') return version;
  const fields = await checkAndPin(deps, version);
  if (await deps.templates.confirmTemplateVersion(tenantId, templateId, n, fields)) return { ...version, ...fields, status: 'READY' };
  await deps.objects.delete(fields.pinned_key!).catch(() => undefined);
  const now = await deps.templates.getTemplateVersion(tenantId, templateId, n);
  if (now?.status === 'READY') return now;
  throw new DomainError('conflict', 'TEMPLATE_VERSION_STATE_CONFLICT', `Version ${n} changed while it was being confirmed; try again.`);
}

/** What a new version may change; anything left out is the latest version's (null drops reply_to or text). */
export interface VersionChanges {
  subject?: string;
  from?: string;
  reply_to?: string | null;
  text?: string | null;
}

type NewVersionDeps = {
  templates: Pick<TemplateVersions, 'getTemplateVersion' | 'listTemplateVersions' | 'createTemplateVersion'>;
  maxVersions: number;
  /** The sender check of template creation: throws when the tenant may not send as these. */
  checkSenders: (senders: { from: string; reply_to?: string }) => Promise<void>;
};

/** How often a new version looks for a free number when others take them at the same time. */
const NUMBER_ATTEMPTS = 10;

/**
 * Makes the next version of the tenant's template, PENDING_UPLOAD, with its own upload key. The
 * number is taken by a conditional write: when another call took it first, the next free one is
 * read and tried, so concurrent calls always end with distinct numbers.
 */
export async function createVersion(
  deps: NewVersionDeps,
  tenantId: string,
  templateId: string,
  changes: VersionChanges,
): Promise<TemplateVersionRecord> {
  let versions = await listedVersions(deps.templates, tenantId, templateId, deps.maxVersions);
  const latest = (await deps.templates.getTemplateVersion(tenantId, templateId, versions.at(-1)!.version))!;
  const content = {
    subject: changes.subject ?? latest.subject,
    from: changes.from ?? latest.from,
    reply_to: changes.reply_to === null ? undefined : (changes.reply_to ?? latest.reply_to),
    text: changes.text === null ? undefined : (changes.text ?? latest.text),
  };
  await deps.checkSenders(content);
  for (let attempt = 0; attempt < NUMBER_ATTEMPTS; attempt++) {
    if (versions.length >= deps.maxVersions) {
      throw new DomainError('too_large', 'TEMPLATE_VERSION_LIMIT', `A template may have at most ${deps.maxVersions} versions.`);
    }
    const number = versions.at(-1)!.version + 1;
    const at = new Date().toISOString();
    const record: TemplateVersionRecord = {
      template_id: templateId,
      tenant_id: tenantId,
      version: number,
      subject: content.subject,
      from: content.from,
      ...(content.reply_to !== undefined ? { reply_to: content.reply_to } : {}),
      ...(content.text !== undefined ? { text: content.text } : {}),
      status: 'PENDING_UPLOAD',
      s3_key: s3Keys.templateVersion(tenantId, templateId, number),
      created_at: at,
      updated_at: at,
    };
    if (await deps.templates.createTemplateVersion(record)) return record;
    versions = await listedVersions(deps.templates, tenantId, templateId, deps.maxVersions);
  }
  throw new DomainError('conflict', 'TEMPLATE_VERSION_BUSY', 'Too many versions are being created at once; try again.');
}

/** The template's versions in number order (without their text), or the contract's 404. */
export async function listedVersions(
  templates: VersionStore,
  tenantId: string,
  templateId: string,
  max: number,
): Promise<TemplateVersionRecord[]> {
  // One more than the cap, so a template at the cap is seen to be there.
  const versions = await templates.listTemplateVersions(tenantId, templateId, max + 1);
  if (!versions) throw notFound('template', templateId);
  return versions;
}

/**
 * The version a campaign, a preview or a test send uses, in full: the one asked for, which must
 * exist (404) and be confirmed (409), or else the latest confirmed one (422 when there is none).
 */
export async function chooseVersion(
  templates: VersionStore,
  tenantId: string,
  templateId: string,
  asked: number | undefined,
  max: number,
): Promise<TemplateVersionRecord> {
  if (asked !== undefined) {
    const version = await templates.getTemplateVersion(tenantId, templateId, asked);
    if (!version) {
      // Whether the template itself exists decides between the two 404s (another tenant's is not found either way).
      if (!(await templates.getTemplateVersion(tenantId, templateId, 1))) throw notFound('template', templateId);
      throw new DomainError('not_found', 'TEMPLATE_VERSION_NOT_FOUND', `Template ${templateId} has no version ${asked}.`);
    }
    if (version.status !== 'READY') {
      throw new DomainError(
        'conflict',
        'TEMPLATE_VERSION_NOT_CONFIRMED',
        `Version ${asked} of the template was not confirmed; call /templates/{id}/versions/${asked}/confirm first.`,
        { version: asked, status: version.status },
      );
    }
    return version;
  }
  const versions = await listedVersions(templates, tenantId, templateId, max);
  const latest = versions.filter((v) => v.status === 'READY').at(-1);
  if (!latest) {
    throw new DomainError('unprocessable', 'TEMPLATE_NOT_CONFIRMED', 'The template was not confirmed; call /templates/{id}/confirm first.');
  }
  // The listing leaves the text part out: read the version whole.
  const full = await templates.getTemplateVersion(tenantId, templateId, latest.version);
  if (!full) throw notFound('template', templateId);
  return full;
}
