// Issue 17, item 4, on the local stack with a short window: a campaign whose daily window opens a
// few seconds from now waits READY_TO_SEND with a held_reason and sends nothing; once it opens it
// sends, throttled, only until the window closes, then waits for the next day's opening (the test
// cancels it there). Every email SES took is inside the window. Bad windows are 400s naming the field.
import { describe, expect, it } from 'vitest';
import { batchWorkflowId } from '../../src/contracts';
import { SEND_WINDOWS } from '../../workflows/batch.workflow';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';
import { recordHistory } from '../support/histories';

const engine = useEngine({ temporal: true, config: { BATCH_SIZE: '100', SEND_CHUNK_SIZE: '1' } });
const api = engine.api;
const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);

describe('send windows', () => {
  it('waits for the window, sends only while it is open, and stops when it closes', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await uploadCsv(api, ['email', ...Array.from({ length: 40 }, (_, i) => `w${i}-${Date.now()}@example.com`)].join('\n'));
    // Opens 10 s from now (UTC), for 12 s; at 2 emails a second, about 24 of the 40 fit.
    const opensAt = Math.ceil((Date.now() + 10_000) / 1000) * 1000;
    const closesAt = opensAt + 12_000;
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: fileId,
      throttle: { emails_per_minute: 120 },
      schedule: { time_zone: 'UTC', window: { start: hhmmss(opensAt), end: hhmmss(closesAt) } },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.transaction_id as string;
    const mails = async () => (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);

    const waiting = await waitFor('held before the window', async () => {
      const status = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
      return status.held_reason ? status : undefined;
    });
    expect(Date.now()).toBeLessThan(opensAt);
    expect(waiting).toMatchObject({ status: 'READY_TO_SEND', schedule: { time_zone: 'UTC' } });
    expect(waiting.held_reason).toMatch(/^outside the send window \(.* UTC\); it opens at /);
    expect(await mails()).toHaveLength(0);

    await new Promise((r) => setTimeout(r, closesAt + 6_000 - Date.now()));
    const sent = await mails();
    const times = sent.map((m) => m.at * 1000);
    console.log(
      `[figures] send window ${hhmmss(opensAt)}–${hhmmss(closesAt)} UTC: ${sent.length} of 40 sent, first ${((Math.min(...times) - opensAt) / 1000).toFixed(1)} s after the opening, last ${((closesAt - Math.max(...times)) / 1000).toFixed(1)} s before the close`,
    );
    expect(sent.length).toBeGreaterThan(5);
    expect(sent.length).toBeLessThan(40);
    // SES's times are whole seconds.
    for (const t of times) {
      expect(t).toBeGreaterThanOrEqual(opensAt - 1000);
      expect(t).toBeLessThan(closesAt + 1000);
    }
    const status = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
    expect(status.status).toBe('READY_TO_SEND');
    expect(status.held_reason).toBeNull();
    // Nothing more until tomorrow's opening.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await mails()).toHaveLength(sent.length);

    const batch = await engine.temporal.workflow.getHandle(batchWorkflowId(id, 1)).fetchHistory();
    const patches = batch
      .events!.filter((e) => e.markerRecordedEventAttributes)
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString()).id);
    expect(patches).toContain(SEND_WINDOWS);
    const timers = batch
      .events!.filter((e) => e.timerStartedEventAttributes)
      .map((e) => Number(e.timerStartedEventAttributes!.startToFireTimeout!.seconds));
    // The wait for tomorrow's opening is one durable timer of about a day.
    expect(Math.max(...timers)).toBeGreaterThan(86_000);
    await recordHistory(engine.temporal, batchWorkflowId(id, 1), 'batch-send-window-closed');

    expect((await api.post(`/api/v1/campaigns/${id}/cancel`)).status).toBe(202);
    await waitForStatus(api, id, ['CANCELLED']);
  }, 120_000);

  it('refuses an unknown time zone, a window that never opens, and a window without its zone, naming the field', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await uploadCsv(api, 'email\nx@example.com');
    const tryWith = (schedule: object) => api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, schedule });
    const cases: [object, string][] = [
      [{ time_zone: 'Mars/Olympus_Mons', window: { start: '09:00', end: '17:00' } }, 'schedule.time_zone'],
      [{ time_zone: 'Europe/Paris', window: { start: '09:00', end: '09:00' } }, 'schedule.window'],
      [{ time_zone: 'Europe/Paris', window: { start: '09:00', end: '17:00', days: [] } }, 'schedule.window.days'],
      [{ time_zone: 'Europe/Paris', window: { start: '25:00', end: '17:00' } }, 'schedule.window.start'],
      [{ window: { start: '09:00', end: '17:00' } }, 'schedule.time_zone'],
      [{ time_zone: 'Europe/Paris' }, 'schedule.send_at'],
    ];
    for (const [schedule, path] of cases) {
      const res = await tryWith(schedule);
      expect(res.status, JSON.stringify(schedule)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(
        res.body.error.details.map((d: { path: string }) => d.path),
        JSON.stringify(res.body),
      ).toContain(path);
    }
  });
});
