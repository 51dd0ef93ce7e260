// Issue 17, item 2, end to end on the local stack: a soft bounce (Transient) is counted apart from
// hard bounces and the message is sent again after the configured delays, as durable timers of its
// batch. Recipients follow the local event source: bounce+soft1… soft-bounces its first email and
// takes the second, bounce+soft9… soft-bounces every one (final BOUNCED, bounce_class soft, after
// the last retry), bounce+… bounces hard. A late event of a superseded attempt changes nothing.
import { describe, expect, it } from 'vitest';
import type { Email } from 'aws-ses-v2-local/dist/store';
import { batchWorkflowId } from '../../src/contracts';
import { sesEventsFor } from '../../src/local/event-source';
import { SOFT_BOUNCE_RETRIES } from '../../workflows/batch.workflow';
import { recordHistory } from '../support/histories';
import { postSnsMessage, signedNotification } from '../support/sns';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine({
  events: 'connect',
  temporal: true,
  config: {
    BATCH_SIZE: '50',
    OUTCOME_POLL_SECONDS: '2',
    FINAL_STATE_DEADLINE_SECONDS: '180',
    // Two retries, 3 s apart (production: 1 h, 4 h, 12 h).
    SOFT_BOUNCE_RETRY_DELAYS_SECONDS: '3,3',
  },
});
const api = engine.api;
const SIM = 'simulator.amazonses.com';
const run = `${Date.now()}`;
const group = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}${run}x${i}@${SIM}`);
const list = {
  delivered: group('success+', 10),
  retriedThenDelivered: group('bounce+soft1r', 5),
  softEveryTime: group('bounce+soft9r', 5),
  hard: group('bounce+hard', 3),
};
const everyone = Object.values(list).flat();

const patchesOf = async (workflowId: string) =>
  (await engine.temporal.workflow.getHandle(workflowId).fetchHistory())
    .events!.filter((e) => e.markerRecordedEventAttributes)
    .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString()).id);

describe('soft bounces', () => {
  it('retries soft-bounced messages after their delays: delivered, or BOUNCED (soft) after the last, counted apart from hard bounces', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi {{ name }}', html: '<p>Hi {{ name }}</p>' });
    const fileId = await uploadCsv(api, ['email,name', ...everyone.map((e, i) => `${e},R${i}`)].join('\n'));
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.transaction_id as string;
    const t0 = Date.now();

    // While a retry is due, the message shows it.
    let sawSoftBounced: any;
    while (!sawSoftBounced && Date.now() - t0 < 60_000) {
      const page = await api.get(`/api/v1/campaigns/${id}/messages?status=SOFT_BOUNCED&limit=1`);
      sawSoftBounced = page.body.items?.[0];
      if (!sawSoftBounced) await new Promise((r) => setTimeout(r, 200));
    }
    expect(sawSoftBounced, 'a message SOFT_BOUNCED while its retry is due').toBeDefined();
    expect(sawSoftBounced).toMatchObject({ status: 'SOFT_BOUNCED', soft_bounce_retries: 1, retry_at: expect.any(String) });

    const final = await waitForStatus(api, id, ['COMPLETED', 'FAILED'], 170_000);
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    expect(final.status).toBe('COMPLETED');
    expect(final.counts).toMatchObject({ sent: 23, delivered: 15, bounced: 3, soft_bounced: 5, failed: 0, suppressed: 0 });
    expect(final.reconciliation).toMatchObject({
      balanced: true,
      sent: 23,
      delivered: 15,
      bounced: 3,
      soft_bounced: 5,
      unknown: 0,
      pending: 0,
    });

    // Each attempt is one email: 1 per delivered or hard-bounced address, 2 for soft1, 3 for soft9.
    const mails = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
    const emailsTo = (address: string) => mails.filter((m) => m.destination.to[0] === address).length;
    for (const a of [...list.delivered, ...list.hard]) expect(emailsTo(a), a).toBe(1);
    for (const a of list.retriedThenDelivered) expect(emailsTo(a), a).toBe(2);
    for (const a of list.softEveryTime) expect(emailsTo(a), a).toBe(3);

    const messageOf = async (address: string) => {
      const page = await api.get(`/api/v1/campaigns/${id}/messages?limit=100`);
      const item = page.body.items.find((m: any) => m.recipient_email === address);
      return (await api.get(`/api/v1/campaigns/${id}/messages/${item.message_id}`)).body;
    };
    const steps = (m: any) => m.status_history.map((h: any) => (h.event ? `${h.event}${h.status ? `→${h.status}` : ''}` : h.status));

    const retried = await messageOf(list.retriedThenDelivered[0]!);
    expect(retried).toMatchObject({ status: 'DELIVERED', soft_bounce_retries: 1 });
    expect(steps(retried)).toEqual([
      'CREATED',
      'SENDING',
      'SENT',
      'SEND',
      'BOUNCE→SOFT_BOUNCED',
      'SENDING',
      'SENT',
      'SEND',
      'DELIVERY→DELIVERED',
    ]);
    const soft = await messageOf(list.softEveryTime[0]!);
    expect(soft).toMatchObject({ status: 'BOUNCED', bounce_class: 'soft', soft_bounce_retries: 2 });
    expect(steps(soft).filter((s: string) => s.startsWith('BOUNCE'))).toEqual([
      'BOUNCE→SOFT_BOUNCED',
      'BOUNCE→SOFT_BOUNCED',
      'BOUNCE→BOUNCED',
    ]);
    // Each retry waited at least its delay after the bounce before it.
    const history = soft.status_history as { status?: string; event?: string; timestamp: string }[];
    for (let i = 1; i < history.length; i += 1) {
      if (history[i]!.status === 'SENDING' && history[i - 1]!.status === 'SOFT_BOUNCED') {
        expect(Date.parse(history[i]!.timestamp) - Date.parse(history[i - 1]!.timestamp)).toBeGreaterThanOrEqual(3000);
      }
    }
    const hard = await messageOf(list.hard[0]!);
    expect(hard).toMatchObject({ status: 'BOUNCED', bounce_class: 'hard' });

    // Soft bounces do not suppress; hard ones do.
    expect((await api.get(`/api/v1/suppressions/${encodeURIComponent(list.softEveryTime[0]!)}`)).status).toBe(404);
    expect((await api.get(`/api/v1/suppressions/${encodeURIComponent(list.hard[0]!)}`)).status).toBe(200);

    // The first attempt's bounce delivered again, late: its attempt was superseded, nothing changes.
    const first = mails.filter((m) => m.destination.to[0] === list.retriedThenDelivered[0]).sort((a, b) => a.at - b.at)[0] as Email;
    const lateBounce = sesEventsFor(first, new Date(), () => 0).find((e) => e.eventType === 'Bounce')!;
    const res = await postSnsMessage(engine.url, signedNotification(engine.pipeline.signer, lateBounce));
    expect(((await res.json()) as { result: string }).result).toBe('duplicate');
    expect(await messageOf(list.retriedThenDelivered[0]!)).toMatchObject({ status: 'DELIVERED' });

    const batchId = batchWorkflowId(id, 1);
    expect(await patchesOf(batchId)).toContain(SOFT_BOUNCE_RETRIES);
    await recordHistory(engine.temporal, batchId, 'batch-soft-bounce-retries');
    console.log(
      `[figures] soft bounces: 23 recipients COMPLETED in ${seconds} s; 5 delivered after one retry, 5 BOUNCED (soft) after two, 3 hard; emails sent ${mails.length}`,
    );
  }, 240_000);
});
