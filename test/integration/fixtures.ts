// Shared setup for the activity integration tests: real deps over the local stack (from the
// vitest global setup), records created straight through the stores, and a helper that runs
// an activity in a MockActivityEnvironment with the Info a worker would give it.
import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { expect } from 'vitest';
import { createActivities } from '../../activities';
import { activityDepsFromConfig } from '../../workers/create-worker';
import { s3Keys } from '../../src/adapters/s3';
import type { MessageRecord, TransactionRecord } from '../../src/adapters/dynamo/types';
import { parseTemplate } from '../../src/domain/template';
import { TENANTS, testConfig } from '../support/harness';

export { TENANTS };

export function setupDeps() {
  const config = testConfig();
  const { deps, doc, close } = activityDepsFromConfig(config);
  return { config, deps, doc, activities: createActivities(deps), close };
}

/** The activities' deps with every store whole, as the tests set records up and read them back. */
type Deps = ReturnType<typeof setupDeps>['deps'];

/** Lowercase, unique per call: safe to use in addresses shared with other tests. */
export const uid = () => randomUUID().replace(/-/g, '').slice(0, 16);

const quietLogger = new DefaultLogger('ERROR');

/** Runs one attempt of an activity as a worker would, recording every heartbeat it sends. */
export async function runAttempt<P extends unknown[], R>(
  fn: (...args: P) => Promise<R>,
  args: P,
  info: Partial<Info> = {},
): Promise<{ result?: R; error?: unknown; heartbeats: unknown[] }> {
  const env = new MockActivityEnvironment(info, { logger: quietLogger });
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  try {
    return { result: await env.run(fn, ...args), heartbeats };
  } catch (error) {
    return { error, heartbeats };
  }
}

/** Runs an activity that must succeed. */
export async function runActivity<P extends unknown[], R>(
  fn: (...args: P) => Promise<R>,
  args: P,
  info: Partial<Info> = {},
): Promise<{ result: R; heartbeats: unknown[] }> {
  const attempt = await runAttempt(fn, args, info);
  if ('error' in attempt) throw attempt.error;
  return { result: attempt.result as R, heartbeats: attempt.heartbeats };
}

/** Runs an activity that must fail and returns its ApplicationFailure. */
export async function expectFailure<P extends unknown[]>(
  fn: (...args: P) => Promise<unknown>,
  args: P,
  info: Partial<Info> = {},
): Promise<ApplicationFailure> {
  const { error } = await runAttempt(fn, args, info);
  expect(error, 'the activity should have thrown an ApplicationFailure').toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}

export async function createTemplate(
  deps: Deps,
  opts: {
    tenantId?: string;
    subject: string;
    html: string;
    text?: string;
    placeholders?: string[];
    status?: 'READY' | 'PENDING_UPLOAD';
    /** Default sender@example.com (tenant a's domain). */
    from?: string;
    replyTo?: string;
  },
): Promise<string> {
  const tenantId = opts.tenantId ?? TENANTS.a.tenantId;
  const templateId = `tpl-${uid()}`;
  const parsed = parseTemplate({ html: opts.html, subject: opts.subject, text: opts.text });
  if (!parsed.ok && opts.placeholders === undefined) throw new Error(`bad template: ${parsed.message}`);
  const key = s3Keys.template(tenantId, templateId);
  await deps.objects.putText(key, opts.html, 'text/html');
  const at = new Date().toISOString();
  await deps.store.putTemplate({
    template_id: templateId,
    tenant_id: tenantId,
    name: 'integration template',
    subject: opts.subject,
    from: opts.from ?? 'sender@example.com',
    ...(opts.replyTo !== undefined ? { reply_to: opts.replyTo } : {}),
    ...(opts.text !== undefined ? { text: opts.text } : {}),
    status: opts.status ?? 'READY',
    placeholders: opts.placeholders ?? (parsed.ok ? parsed.placeholders : []),
    s3_key: key,
    created_at: at,
    updated_at: at,
  });
  return templateId;
}

/** Creates the file record and, unless `content` is undefined, uploads the object. */
export async function createFile(deps: Deps, content: string | Buffer | undefined, tenantId: string = TENANTS.a.tenantId): Promise<string> {
  const fileId = `file-${uid()}`;
  const key = s3Keys.file(tenantId, fileId);
  if (content !== undefined) {
    await deps.objects.s3.send(new PutObjectCommand({ Bucket: deps.objects.bucket, Key: key, Body: content, ContentType: 'text/csv' }));
  }
  await deps.store.putFile({
    file_id: fileId,
    tenant_id: tenantId,
    file_name: 'recipients.csv',
    content_type: 'text/csv',
    s3_key: key,
    created_at: new Date().toISOString(),
  });
  return fileId;
}

export async function createTransaction(
  deps: Deps,
  fields: { templateId: string; fileId: string; tenantId?: string; callbackUrl?: string; extra?: Partial<TransactionRecord> },
): Promise<TransactionRecord> {
  return deps.store.createTransaction({
    transaction_id: `txn-${uid()}`,
    tenant_id: fields.tenantId ?? TENANTS.a.tenantId,
    template_id: fields.templateId,
    file_id: fields.fileId,
    ...(fields.callbackUrl ? { callback_url: fields.callbackUrl } : {}),
    ...fields.extra,
  });
}

/** Template + file + transaction, ready for ingestRecipients. */
export async function campaign(
  deps: Deps,
  csv: string | Buffer,
  template: { subject: string; html: string; text?: string; placeholders?: string[] } = { subject: 'Hi', html: '<p>Hi</p>' },
) {
  const templateId = await createTemplate(deps, template);
  const fileId = await createFile(deps, csv);
  const txn = await createTransaction(deps, { templateId, fileId });
  const input = { transactionId: txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId, fileId, batchSize: 5 };
  return { templateId, fileId, txn, input };
}

export async function allMessages(deps: Deps, transactionId: string): Promise<MessageRecord[]> {
  const out: MessageRecord[] = [];
  for (const batch of await deps.batches.listBatches(transactionId)) {
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await deps.messages.pageMessages(transactionId, batch.batch_id, 100, cursor);
      out.push(...page.items);
      cursor = page.cursor;
    } while (cursor);
  }
  return out.sort((a, b) => a.row - b.row);
}

export async function allRowErrors(deps: Deps, transactionId: string) {
  const page = await deps.rowErrors.listRowErrors(transactionId, 1000);
  return page.items.sort((a, b) => a.row - b.row);
}

export async function suppress(deps: Deps, email: string, tenantId: string = TENANTS.a.tenantId) {
  await deps.suppressions.putSuppression({ tenant_id: tenantId, email, reason: 'TEST', created_at: new Date().toISOString() });
}

export async function transaction(deps: Deps, transactionId: string): Promise<TransactionRecord> {
  const txn = await deps.store.getTransaction(undefined, transactionId);
  if (!txn) throw new Error(`transaction ${transactionId} missing`);
  return txn;
}
