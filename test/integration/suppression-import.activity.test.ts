// importSuppressionFile against DynamoDB Local and s3rver (issue 15, item 6): a retry resumes
// after the heartbeated line and counts exactly what an earlier attempt wrote past it; groups of
// lines are written and heartbeated one after another, a repeat in a later group is a duplicate;
// a line that cannot be parsed stops the import (FAILED, the lines before it stand) and the
// rejected-lines report keeps only its first lines.
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { createSuppressionListActivities } from '../../activities/suppression-lists.activities';
import { emptyProgress, importPinnedKey, importUploadKey } from '../../src/domain/suppression-lists';
import { runActivity, setupDeps, TENANTS, uid } from './fixtures';

const { deps, close } = setupDeps();
afterAll(() => close());
const activities = createSuppressionListActivities(deps, {
  maxBytes: 1024 * 1024,
  maxLines: 10_000,
  maxReportedLines: 3,
  writeConcurrency: 4,
});
const tenantId = TENANTS.a.tenantId;

/** An import whose file (`csv`) is pinned, as a start leaves it. */
async function queuedImport(csv: string) {
  const importId = `si_${uid()}`;
  const pinned = importPinnedKey(tenantId, importId, 'copy');
  await deps.objects.putText(pinned, csv, 'text/csv');
  const at = new Date().toISOString();
  await deps.suppressionJobs.createImport({
    import_id: importId,
    tenant_id: tenantId,
    state: 'QUEUED',
    upload_key: importUploadKey(tenantId, importId),
    pinned_key: pinned,
    progress: emptyProgress(),
    created_at: at,
    updated_at: at,
  });
  return { importId, input: { version: 1, tenantId, jobId: importId } };
}

const suppression = (email: string) => deps.suppressions.getSuppression(tenantId, email);

describe('importSuppressionFile', () => {
  it('resumes after the heartbeated line and counts what the earlier attempt wrote past it as imported', async () => {
    const id = uid();
    const email = (n: number) => `line${n}-${id}@example.com`;
    const lines = [2, 3, 4, 5, 6, 7, 8, 9].map((n) => (n === 3 ? 'bad address' : email(n)));
    const { importId, input } = await queuedImport(`email\n${lines.join('\n')}\n`);
    // The earlier attempt heartbeated line 5, then wrote line 7's suppression before it died.
    await deps.suppressions.putSuppression({
      tenant_id: tenantId,
      email: email(7),
      reason: 'MANUAL',
      source: { type: 'import', import_id: importId, line: 7 },
      created_at: new Date().toISOString(),
    });
    const checkpoint = {
      line: 5,
      progress: { lines_read: 4, imported: 3, duplicates: 0, rejected: 1 },
      rejected: [{ line: 3, email: 'bad address', code: 'INVALID_EMAIL', message: 'not a valid email address' }],
    };

    const { result, heartbeats } = await runActivity(activities.importSuppressionFile, [input], {
      attempt: 2,
      heartbeatDetails: checkpoint,
    });

    expect(result).toEqual({ lines_read: 8, imported: 7, duplicates: 0, rejected: 1 });
    expect(heartbeats.at(-1)).toMatchObject({ line: 9, progress: result });
    // Lines up to the checkpoint are not written again (the earlier attempt had them).
    for (const n of [2, 4, 5]) expect(await suppression(email(n))).toBeUndefined();
    for (const n of [6, 7, 8, 9]) expect(await suppression(email(n))).toMatchObject({ source: { import_id: importId, line: n } });
    const job = await deps.suppressionJobs.getImport(tenantId, importId);
    expect(job).toMatchObject({ state: 'COMPLETED', progress: result, reported_lines: 1 });
    const report = parse(await deps.objects.getText(job!.report_key!), { columns: true }) as Record<string, string>[];
    expect(report).toEqual([{ line: '3', email: 'bad address', code: 'INVALID_EMAIL', message: 'not a valid email address' }]);
    // The file is consumed: neither the pinned copy nor the upload is kept.
    expect(await deps.objects.size(job!.pinned_key!)).toBeUndefined();
  });

  it('writes and heartbeats group after group; an address repeated in a later group is a duplicate', async () => {
    const id = uid();
    const emails = Array.from({ length: 4500 }, (_, i) => (i === 2999 ? `row0-${id}@example.com` : `row${i}-${id}@example.com`));
    const { input } = await queuedImport(`email,reason\n${emails.map((e) => `${e},spam`).join('\n')}`);

    const { result, heartbeats } = await runActivity(activities.importSuppressionFile, [input]);

    expect(result).toEqual({ lines_read: 4500, imported: 4499, duplicates: 1, rejected: 0 });
    expect(heartbeats.map((h) => (h as { line: number }).line)).toEqual([2001, 4001, 4501]);
    expect(await suppression(`row0-${id}@example.com`)).toMatchObject({ reason: 'COMPLAINT', source: { line: 2 } });
    expect(await suppression(`row4499-${id}@example.com`)).toMatchObject({ reason: 'COMPLAINT', source: { line: 4501 } });
  }, 120_000);

  it('stops at a line that cannot be parsed, keeps the lines before it, and caps the report', async () => {
    const id = uid();
    const good = [`first-${id}@example.com`, `second-${id}@example.com`];
    const csv = ['email', good[0], 'x1', 'x2', 'x3', 'x4', good[1], `"never-closed-${id}@example.com`, `after-${id}@example.com`].join(
      '\n',
    );
    const { importId, input } = await queuedImport(csv);

    const { result } = await runActivity(activities.importSuppressionFile, [input]);

    expect(result).toEqual({ lines_read: 6, imported: 2, duplicates: 0, rejected: 5 });
    for (const email of good) expect(await suppression(email)).toBeDefined();
    expect(await suppression(`after-${id}@example.com`)).toBeUndefined();
    const job = await deps.suppressionJobs.getImport(tenantId, importId);
    expect(job).toMatchObject({ state: 'FAILED', error: { code: 'MALFORMED_CSV' }, reported_lines: 3 });
    expect(job!.error!.message).toMatch(/^the file could not be read after line 7: /);
    const report = parse(await deps.objects.getText(job!.report_key!), { columns: true }) as Record<string, string>[];
    expect(report.map((r) => [r.line, r.code])).toEqual([
      ['3', 'INVALID_EMAIL'],
      ['4', 'INVALID_EMAIL'],
      ['5', 'INVALID_EMAIL'],
    ]);
  });
});
