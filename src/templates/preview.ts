// Preview and test send of a template version (issue 15, item 3). Both check one data row as
// ingest checks a CSV row (createRowValidator: required placeholders, dotted columns, sizes) and
// render it with the send path's renderer and limits (compileConfirmed, renderDataOf); where a
// campaign's message has its own values (its ids, its unsubscribe link) they show as
// `{{message_id}}`, `{{transaction_id}}` and `{{unsubscribe_url}}`. A test send then goes to at
// most five addresses through the same SES messenger, marked as a test (X-Engine-Test header,
// SES tag test=true), leaving out suppressed addresses, counted against the tenant's hourly
// limit, and belongs to no campaign: no transaction, no message records, no counts.
import { DomainError } from '../domain/errors';
import { normalizeEmail } from '../domain/email-address';
import { columnRulesOf, createRowValidator, CsvHeaderError } from '../domain/recipient-csv';
import { TemplateRenderError, type CompiledTemplate } from '../domain/template';
import { SendError, type Messenger } from '../adapters/ses';
import type { ObjectStore } from '../adapters/s3';
import type { TemplateVersionRecord } from '../adapters/dynamo/types';
import type { SenderCheck } from '../identities/sender-identities';
import type { ErasedRecipients, TemplateVersions } from '../ports';
import { compileConfirmed, PREVIEW_VALUES, renderDataOf } from './render';

export const MAX_TEST_RECIPIENTS = 5;
/** Stands in for the address while a preview's row is checked (a row must have one); never rendered. */
const CHECK_ADDRESS = 'preview@example.com';

export type Rendered = { subject: string; html: string; text?: string };
/** What the sender check found for the version's `from`: SES sends as this identity. */
type SendingIdentity = Pick<Extract<SenderCheck, { ok: true }>, 'identityArn' | 'configurationSet'>;

/**
 * The row as a send would render it, or the error a CSV row would get: a 422 naming the missing
 * placeholders (MISSING_PLACEHOLDERS) or the header problem (MISSING_COLUMNS…).
 */
export function checkedRow(version: TemplateVersionRecord, data: Record<string, string>): Record<string, string> {
  const columns = Object.keys(data).filter((name) => name.trim().toLowerCase() !== 'email');
  let validator;
  try {
    validator = createRowValidator(['email', ...columns], columnRulesOf(version));
  } catch (error) {
    if (error instanceof CsvHeaderError) throw new DomainError('unprocessable', error.code, error.message, error.details);
    throw error;
  }
  const result = validator.validate([CHECK_ADDRESS, ...columns.map((name) => data[name]!)]);
  if (result.kind === 'valid') return result.data;
  if (result.code === 'MISSING_PLACEHOLDER') {
    throw new DomainError('unprocessable', 'MISSING_PLACEHOLDERS', result.message, { placeholders: result.missing ?? [] });
  }
  throw new DomainError('unprocessable', result.code, result.message);
}

/** Renders one message; a render error is a 422 with its code, part, line and column. */
export async function renderOne(compiled: CompiledTemplate, row: Record<string, string>, email: string): Promise<Rendered> {
  try {
    return await compiled.render(renderDataOf(row, { email, ...PREVIEW_VALUES }));
  } catch (error) {
    if (!(error instanceof TemplateRenderError)) throw error;
    throw new DomainError('unprocessable', error.code, error.message, error.position ?? {});
  }
}

type PreviewDeps = { objects: Pick<ObjectStore, 'readUpTo'> };

/** Subject, HTML and text of `version` for one row; `email` shows as `{{email}}` unless the row has one. */
export async function preview(deps: PreviewDeps, version: TemplateVersionRecord, data: Record<string, string>): Promise<Rendered> {
  const row = checkedRow(version, data);
  const given = Object.entries(data).find(([name]) => name.trim().toLowerCase() === 'email')?.[1];
  // As ingest stores it: normalised.
  const email = given === undefined ? '{{email}}' : (normalizeEmail(given) ?? given);
  return renderOne(await compileConfirmed(deps.objects, version), row, email);
}

type TestSendDeps = PreviewDeps & {
  templates: Pick<TemplateVersions, 'reserveTestSends'>;
  suppressions: Pick<ErasedRecipients, 'suppressedOrErasedAmong'>;
  messenger: Messenger;
  maxPerHour: number;
};

export type TestSendResult =
  | { to: string; status: 'sent'; ses_message_id: string }
  | { to: string; status: 'suppressed' }
  | { to: string; status: 'failed'; code: string; reason: string };

/**
 * Sends the rendered version to each address (the sender already checked as at send: `sender`).
 * Everything is rendered before anything is sent, so a render error sends nothing; suppressed
 * and erased addresses are left out and reported; the rest are counted against the hourly limit
 * before the first is sent (429 when they would pass it, nothing sent).
 */
export async function testSend(
  deps: TestSendDeps,
  version: TemplateVersionRecord,
  sender: SendingIdentity,
  to: string[],
  data: Record<string, string>,
): Promise<TestSendResult[]> {
  const addresses = [...new Set(to.map((raw) => normalizeEmail(raw) ?? raw))];
  const row = checkedRow(version, data);
  const compiled = await compileConfirmed(deps.objects, version);
  const rendered = new Map<string, Rendered>();
  for (const address of addresses) rendered.set(address, await renderOne(compiled, row, address));
  const suppressed = await deps.suppressions.suppressedOrErasedAmong(version.tenant_id, addresses);
  const sendable = addresses.filter((a) => !suppressed.has(a));
  if (sendable.length > 0 && !(await deps.templates.reserveTestSends(version.tenant_id, sendable.length, deps.maxPerHour))) {
    throw new DomainError(
      'rate_limited',
      'TEST_SEND_LIMIT',
      `A tenant may send at most ${deps.maxPerHour} test messages an hour (TEST_SEND_MAX_PER_HOUR); try again next hour.`,
      { limit: deps.maxPerHour },
    );
  }
  const results: TestSendResult[] = [];
  for (const address of addresses) {
    if (suppressed.has(address)) {
      results.push({ to: address, status: 'suppressed' });
      continue;
    }
    results.push(await sendOne(deps.messenger, version, sender, address, rendered.get(address)!));
  }
  return results;
}

async function sendOne(
  messenger: Messenger,
  version: TemplateVersionRecord,
  sender: SendingIdentity,
  to: string,
  mail: Rendered,
): Promise<TestSendResult> {
  try {
    const { messageId } = await messenger.send({
      from: version.from,
      to,
      replyTo: version.reply_to,
      ...mail,
      headers: { 'X-Engine-Test': 'true', 'X-Template-Id': version.template_id, 'X-Template-Version': String(version.version) },
      tags: { test: 'true', template_id: version.template_id, template_version: String(version.version) },
      fromIdentityArn: sender.identityArn,
      configurationSet: sender.configurationSet,
    });
    return { to, status: 'sent', ses_message_id: messageId };
  } catch (error) {
    // Reported per address, like a suppression: the others are still sent (a test is never retried).
    if (!(error instanceof SendError)) throw error;
    return { to, status: 'failed', code: error.code, reason: error.message };
  }
}
