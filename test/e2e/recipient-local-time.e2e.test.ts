// Issue 17, item 4, on the local stack: recipients' local time. A campaign with send_at 12 s from
// now in a zone at UTC-1 (Etc/GMT+1) and a time-zone column: recipients in UTC-1 (and blank cells,
// which take the campaign's zone) are mailed at send_at; recipients in UTC and Kolkata, whose
// 12-s-from-now wall-clock time is already past, at once; an unknown zone rejects its row with
// INVALID_TIME_ZONE and the others stand. A file without the column is a 422 at creation.
import { describe, expect, it } from 'vitest';
import { batchWorkflowId, transactionWorkflowId } from '../../src/contracts';
import { RECIPIENT_LOCAL_TIME } from '../../workflows/batch.workflow';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';
import { recordHistory } from '../support/histories';

const engine = useEngine({ temporal: true, config: { BATCH_SIZE: '3' } });
const api = engine.api;

describe("recipients' local time", () => {
  it('mails each group at send_at in its own zone, earliest first, and rejects an unknown zone by row', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const id = Date.now();
    const rows: [string, string][] = [
      ['west1', 'Etc/GMT+1'],
      ['utc1', 'UTC'],
      ['kol1', 'Asia/Kolkata'],
      ['west2', ''],
      ['mars', 'Mars/Olympus_Mons'],
      ['utc2', 'Etc/UTC'],
      ['west3', 'Etc/GMT+1'],
    ];
    const fileId = await uploadCsv(api, `email,tz\n${rows.map(([who, tz]) => `${who}-${id}@example.com,${tz}`).join('\n')}\n`);
    const sendAt = Math.ceil((Date.now() + 12_000) / 1000) * 1000;
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: fileId,
      schedule: { send_at: new Date(sendAt).toISOString(), time_zone: 'Etc/GMT+1', recipient_time_zone_column: 'tz' },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const txn = started.body.transaction_id as string;
    const final = await waitForStatus(api, txn, ['SENT', 'COMPLETED', 'FAILED'], 90_000);
    expect(['SENT', 'COMPLETED']).toContain(final.status);
    expect(final.counts).toMatchObject({ sent: 6, invalid: 1 });
    expect(final.schedule).toMatchObject({ recipient_time_zone_column: 'tz' });
    const mails = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === txn);
    const at = new Map(mails.map((m) => [m.destination.to[0]!.split('-')[0]!, m.at * 1000]));
    expect([...at.keys()].sort()).toEqual(['kol1', 'utc1', 'utc2', 'west1', 'west2', 'west3']);
    // SES's times are whole seconds.
    for (const who of ['utc1', 'utc2', 'kol1']) expect(at.get(who)!, who).toBeLessThan(sendAt - 2_000);
    for (const who of ['west1', 'west2', 'west3']) expect(at.get(who)!, who).toBeGreaterThanOrEqual(sendAt - 1_000);
    console.log(
      `[figures] recipients' local time: UTC and Kolkata mailed ${((sendAt - Math.max(at.get('utc1')!, at.get('utc2')!, at.get('kol1')!)) / 1000).toFixed(0)} s before send_at (their time had passed), UTC-1 ${((Math.min(at.get('west1')!, at.get('west3')!) - sendAt) / 1000).toFixed(0)} s after it`,
    );
    const errors = (await api.get(`/api/v1/campaigns/${txn}/errors`)).body;
    expect(JSON.stringify(errors)).toContain('INVALID_TIME_ZONE');
    // Batches by send time: Kolkata's first, then UTC's, then UTC-1's (which waited for its time).
    const inputOf = async (n: number) => {
      const history = await engine.temporal.workflow.getHandle(batchWorkflowId(txn, n)).fetchHistory();
      const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!.data!;
      return { history, input: JSON.parse(Buffer.from(payload).toString('utf8')) as { notBefore?: string } };
    };
    for (const n of [1, 2]) expect((await inputOf(n)).input.notBefore, `batch ${n}`).toBeUndefined();
    const west = await inputOf(3);
    expect(west.input.notBefore).toBe(new Date(sendAt).toISOString());
    const markers = west.history.events!.flatMap((e) => {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
      return data ? [JSON.parse(Buffer.from(data).toString('utf8')).id as string] : [];
    });
    expect(markers).toContain(RECIPIENT_LOCAL_TIME);
    await recordHistory(engine.temporal, batchWorkflowId(txn, 3), 'batch-recipient-local-time');
    await recordHistory(engine.temporal, transactionWorkflowId(txn), 'transaction-recipient-local-time');
  });

  it('refuses a file without the column, and a column without send_at', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await uploadCsv(api, `email\nx-${Date.now()}@example.com\n`);
    const schedule = { send_at: new Date(Date.now() + 60_000).toISOString(), recipient_time_zone_column: 'tz' };
    const missing = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, schedule });
    expect(missing.status).toBe(422);
    expect(missing.body.error).toMatchObject({ code: 'TIME_ZONE_COLUMN_MISSING', details: { column: 'tz' } });
    const noSendAt = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: fileId,
      schedule: { time_zone: 'UTC', window: { start: '09:00', end: '17:00' }, recipient_time_zone_column: 'tz' },
    });
    expect(noSendAt.status).toBe(400);
    expect(JSON.stringify(noSendAt.body.error.details)).toContain('recipient_time_zone_column');
  });
});
