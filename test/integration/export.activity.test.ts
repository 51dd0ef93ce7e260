// The export activity and its records against DynamoDB Local and s3rver: a campaign over several
// batches is written as many multipart parts (a part size far under S3's 5 MiB, which s3rver
// allows), in order, every message once; an attempt that fails mid-way is resumed by the next
// from its heartbeat without repeating or losing a row, and one whose upload has gone starts
// over cleanly; the per-campaign cap holds under concurrent requests, and an export that ends
// frees its slot.
import { parse } from 'csv-parse/sync';
import { afterAll, describe, expect, it } from 'vitest';
import { createExportActivities, type ActivityDeps } from '../../activities';
import { EXPORT_COLUMNS, exportCells, type ExportRef } from '../../src/domain/campaign-export';
import { csvLine } from '../../src/domain/csv-export';
import { ERASED_ADDRESS } from '../../src/domain/erasure';
import { s3Keys } from '../../src/adapters/s3';
import { seedSentCampaign, seededMessage } from '../support/export-seed';
import { runActivity, runAttempt, setupDeps, TENANTS, uid } from './fixtures';

const { deps, close } = setupDeps();
afterAll(() => close());

const tenantId = TENANTS.a.tenantId;
const MESSAGES = 70;
const BATCH = 5;

/** A seeded campaign and a recorded export of it (its slot taken), ready for the activity. */
async function exportOfNewCampaign(): Promise<{ ref: ExportRef; key: string; expected: string }> {
  const tag = `exp-${uid()}`;
  const { transactionId } = await seedSentCampaign(deps, { tenantId, messages: MESSAGES, batchSize: BATCH, tag });
  const exportId = `exp_${uid()}`;
  const key = s3Keys.campaignExport(tenantId, transactionId, exportId);
  const now = new Date();
  const created = await deps.exports.createExport(
    { export_id: exportId, tenant_id: tenantId, transaction_id: transactionId, s3_key: key, created_at: now.toISOString() },
    1,
    new Date(now.getTime() + 60_000).toISOString(),
  );
  expect(created.outcome).toBe('created');
  const lines = Array.from({ length: MESSAGES }, (_, i) =>
    csvLine(exportCells(seededMessage(transactionId, tenantId, i, BATCH, tag), 'COMPLETED')),
  );
  return { ref: { tenantId, transactionId, exportId }, key, expected: csvLine(EXPORT_COLUMNS) + lines.join('') };
}

/**
 * The activities with small parts and, when given, S3 failing at part `failAt`, or answering for
 * upload `gone` as S3 does for an upload aborted or expired (s3rver has neither).
 */
function activitiesWith(opts: { failAt?: number; gone?: string } = {}) {
  let parts = 0;
  const objects = Object.create(deps.objects) as ActivityDeps['objects'];
  objects.uploadPart = async (...args) => {
    parts += 1;
    if (parts === opts.failAt) throw new Error('S3 went away');
    if (args[1] === opts.gone) throw Object.assign(new Error('The specified upload does not exist.'), { name: 'NoSuchUpload' });
    return deps.objects.uploadPart(...args);
  };
  return createExportActivities({ ...deps, objects, settings: { ...deps.settings, exportPartBytes: 1024 } });
}

describe('exportCampaignMessages', () => {
  it('writes every message once, in order, as many parts, and reports its progress', async () => {
    const { ref, key, expected } = await exportOfNewCampaign();
    const { result, heartbeats } = await runActivity(activitiesWith().exportCampaignMessages, [ref]);
    const text = await deps.objects.getText(key);
    expect(text).toBe(expected);
    expect(result).toEqual({ rows: MESSAGES, bytes: Buffer.byteLength(expected) });
    const checkpoints = heartbeats as { parts: unknown[]; rows: number }[];
    expect(checkpoints.at(-1)!.parts.length).toBeGreaterThan(5);
    expect(checkpoints.at(-1)!.rows).toBe(MESSAGES);
    const rows = (parse(text) as string[][]).slice(1);
    expect(new Set(rows.map((r) => r[0])).size).toBe(MESSAGES);
    expect(rows.filter((r) => r[2] === ERASED_ADDRESS)).toHaveLength(MESSAGES / 7);
    expect(rows.some((r) => r[2]!.startsWith("'=cmd-"))).toBe(true);
    // Progress reached the record while it ran; it is still RUNNING until the workflow ends it.
    expect(await deps.exports.getExport(tenantId, ref.transactionId, ref.exportId)).toMatchObject({
      state: 'RUNNING',
      rows_written: MESSAGES,
    });
  });

  it('resumes from the last part an attempt heartbeated: no row written twice or lost', async () => {
    const { ref, key, expected } = await exportOfNewCampaign();
    const first = await runAttempt(activitiesWith({ failAt: 4 }).exportCampaignMessages, [ref]);
    expect((first.error as Error).message).toBe('S3 went away');
    const checkpoint = first.heartbeats.at(-1) as { parts: unknown[]; rows: number; batch: number; uploadId: string };
    expect(checkpoint.parts).toHaveLength(3);
    expect(checkpoint.rows).toBeGreaterThan(0);
    const second = await runActivity(activitiesWith().exportCampaignMessages, [ref], { attempt: 2, heartbeatDetails: checkpoint });
    expect(await deps.objects.getText(key)).toBe(expected);
    expect(second.result.rows).toBe(MESSAGES);
    // The second attempt went on with the same upload after the checkpoint's parts (a fresh start would have none).
    const resumed = second.heartbeats[0] as { parts: unknown[]; uploadId: string };
    expect(resumed.uploadId).toBe(checkpoint.uploadId);
    expect(resumed.parts.slice(0, 3)).toEqual(checkpoint.parts);
  });

  it('starts over cleanly when the upload its checkpoint names is gone', async () => {
    const { ref, key, expected } = await exportOfNewCampaign();
    const first = await runAttempt(activitiesWith({ failAt: 3 }).exportCampaignMessages, [ref]);
    const checkpoint = first.heartbeats.at(-1) as { uploadId: string };
    const second = await runActivity(activitiesWith({ gone: checkpoint.uploadId }).exportCampaignMessages, [ref], {
      attempt: 2,
      heartbeatDetails: checkpoint,
    });
    expect(second.result.rows).toBe(MESSAGES);
    expect((second.heartbeats.at(-1) as { uploadId: string }).uploadId).not.toBe(checkpoint.uploadId);
    expect(await deps.objects.getText(key)).toBe(expected);
  });
});

describe('export records', () => {
  it('lets only as many exports run at once as the cap, even when asked at the same moment; an ended one frees its slot', async () => {
    const { transactionId } = await seedSentCampaign(deps, { tenantId, messages: 1, batchSize: BATCH, tag: `exp-${uid()}` });
    const attempt = (n: number) => {
      const now = new Date();
      return deps.exports.createExport(
        { export_id: `exp_${n}`, tenant_id: tenantId, transaction_id: transactionId, s3_key: `k${n}`, created_at: now.toISOString() },
        2,
        new Date(now.getTime() + 60_000).toISOString(),
      );
    };
    const outcomes = await Promise.all([1, 2, 3, 4, 5, 6].map(attempt));
    const created = outcomes.flatMap((o) => (o.outcome === 'created' ? [o.record] : []));
    expect(created.map((r) => r.slot).sort()).toEqual([0, 1]);
    expect(outcomes.filter((o) => o.outcome === 'busy')).toHaveLength(4);

    const { finishCampaignExport } = activitiesWith();
    await runActivity(finishCampaignExport, [
      { tenantId, transactionId, exportId: created[0]!.export_id, state: 'FAILED', error: { code: 'EXPORT_FAILED', message: 'x' } },
    ]);
    // A repeat changes nothing (and frees nothing else).
    await runActivity(finishCampaignExport, [
      { tenantId, transactionId, exportId: created[0]!.export_id, state: 'COMPLETED', result: { rows: 1, bytes: 1 } },
    ]);
    expect(await deps.exports.getExport(tenantId, transactionId, created[0]!.export_id)).toMatchObject({
      state: 'FAILED',
      error: { code: 'EXPORT_FAILED' },
    });
    expect((await attempt(7)).outcome).toBe('created');
    expect((await attempt(8)).outcome).toBe('busy');
    // An id already recorded is that export, whatever the slots.
    expect(await attempt(7)).toMatchObject({ outcome: 'exists', record: { export_id: 'exp_7' } });
    expect(await deps.exports.getExport(TENANTS.b.tenantId, transactionId, 'exp_7')).toBeUndefined();
  });

  it('takes a slot whose lease has passed (an export whose run never said it ended)', async () => {
    const { transactionId } = await seedSentCampaign(deps, { tenantId, messages: 1, batchSize: BATCH, tag: `exp-${uid()}` });
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const record = (id: string, createdAt: string) => ({
      export_id: id,
      tenant_id: tenantId,
      transaction_id: transactionId,
      s3_key: id,
      created_at: createdAt,
    });
    expect((await deps.exports.createExport(record('exp_old', at(-120_000)), 1, at(-60_000))).outcome).toBe('created');
    expect((await deps.exports.createExport(record('exp_new', at(0)), 1, at(60_000))).outcome).toBe('created');
    expect((await deps.exports.createExport(record('exp_newer', at(0)), 1, at(60_000))).outcome).toBe('busy');
  });
});
