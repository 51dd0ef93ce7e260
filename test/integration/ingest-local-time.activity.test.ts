// Issue 17, item 4, recipients' local time, at ingest against DynamoDB Local and s3rver: the
// valid rows are grouped by their send time (send_at's wall-clock time in the campaign's zone,
// read in each recipient's), batches numbered group by group in time order, each batch carrying
// its send time; a blank zone takes the campaign's, an unknown one rejects its row with a code,
// and every other row stands.
import { afterAll, describe, expect, it } from 'vitest';
import { allMessages, allRowErrors, campaign, expectFailure, runActivity, setupDeps, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
afterAll(() => close());

describe("ingest with recipients' local time", () => {
  it('groups the batches by send time, earliest first, and rejects an unknown zone by row', async () => {
    const id = uid();
    const rows = [
      // 09:00 in Paris on 2026-06-01 is 07:00 UTC; in New York 13:00 UTC; in Kolkata 03:30 UTC.
      ['ny1', 'America/New_York'],
      ['paris1', ''],
      ['kol1', 'Asia/Kolkata'],
      ['ny2', 'America/New_York'],
      ['mars', 'Mars/Olympus_Mons'],
      ['ny3', ' America/New_York '],
      ['paris2', 'Europe/Paris'],
      ['bad-address', 'Asia/Kolkata'],
    ];
    const csv = `email,tz\n${rows.map(([who, tz]) => `${who === 'bad-address' ? 'not-an-address' : `${who}-${id}@example.com`},${tz}`).join('\n')}\n`;
    const { input, txn } = await campaign(deps, csv);
    const localTime = { sendAt: '2026-06-01T07:00:00.000Z', timeZone: 'Europe/Paris', column: 'tz' };
    const { result } = await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 2, localTime }]);
    expect(result).toMatchObject({ totalMessages: 6, valid: 6, invalid: 2, batchCount: 4 });
    expect(result.localTimes).toEqual([
      { sendAt: '2026-06-01T03:30:00.000Z', firstBatch: 1 },
      { sendAt: '2026-06-01T07:00:00.000Z', firstBatch: 2 },
      { sendAt: '2026-06-01T13:00:00.000Z', firstBatch: 3 },
    ]);
    const batches = await deps.batches.listBatches(txn.transaction_id);
    expect(batches.map((b) => [b.batch_number, b.message_count, b.send_at])).toEqual([
      [1, 1, '2026-06-01T03:30:00.000Z'],
      [2, 2, '2026-06-01T07:00:00.000Z'],
      [3, 2, '2026-06-01T13:00:00.000Z'],
      [4, 1, '2026-06-01T13:00:00.000Z'],
    ]);
    const byBatch = (await allMessages(deps, txn.transaction_id))
      .map((m) => [m.batch_id, m.recipient_email.split('-')[0], m.row] as const)
      .sort((a, b) => a[0].localeCompare(b[0]) || a[2] - b[2]);
    expect(byBatch).toEqual([
      ['b00001', 'kol1', 3],
      ['b00002', 'paris1', 2],
      ['b00002', 'paris2', 7],
      ['b00003', 'ny1', 1],
      ['b00003', 'ny2', 4],
      ['b00004', 'ny3', 6],
    ]);
    const errors = await allRowErrors(deps, txn.transaction_id);
    expect(errors.map((e) => [e.row, e.code])).toEqual([
      [5, 'INVALID_TIME_ZONE'],
      [8, 'INVALID_EMAIL'],
    ]);
    expect(errors[0]!.message).toContain('Mars/Olympus_Mons');
  });

  it('fails the file when the zone column is missing', async () => {
    const { input } = await campaign(deps, `email\nsomeone-${uid()}@example.com\n`);
    const failure = await expectFailure(activities.ingestRecipients, [
      { ...input, localTime: { sendAt: '2026-06-01T07:00:00.000Z', timeZone: 'UTC', column: 'tz' } },
    ]);
    expect(failure.details).toEqual([{ code: 'TIME_ZONE_COLUMN_MISSING' }]);
  });

  it('without localTime, batches carry no send time (as before)', async () => {
    const { input, txn } = await campaign(deps, `email,tz\na-${uid()}@example.com,Asia/Tokyo\n`);
    const { result } = await runActivity(activities.ingestRecipients, [input]);
    expect(result.localTimes).toBeUndefined();
    expect((await deps.batches.listBatches(txn.transaction_id))[0]!.send_at).toBeUndefined();
  });
});
