// Issue 16, item 4, end to end on the local stack: the reputation guard. Two fresh tenants send
// at once through the real engine (Temporal, DynamoDB Local, the SES emulator and its SNS event
// pipeline). Tenant A's list opens with complaint@ simulator addresses: its complaint rate
// crosses the (test-sized) threshold, the guard holds the tenant and its campaign pauses itself,
// PAUSED with a held_reason, a PAUSED webhook, an audit entry and the metric; tenant B's
// campaign keeps sending and completes. A new campaign and a plain resume of A are refused (409
// TENANT_REPUTATION_HOLD); the operator's override resumes it (audited) and it completes. A
// campaign the operator creates during the hold with the override is left sending (it completes);
// send-now and rescheduling are refused like a resume.
import { describe, expect, it, beforeAll } from 'vitest';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { ReputationTable } from '../../src/adapters/dynamo/reputation';
import { batchWorkflowId } from '../../src/contracts';
import { RESUME_ENDS_GRACE } from '../../workflows/batch.workflow';
import { recordHistory } from '../support/histories';
import { seedTenant } from '../../src/local/dev-tenant';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { apiClient, startWebhookReceiver, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

const OPERATOR_TOKEN = 'operator-token-for-the-reputation-e2e-0123456789';
const engine = useEngine({
  events: 'connect',
  temporal: true,
  config: {
    // The default grace, so the send-gate case shows a resume ending the wait (it is 70 s in tests).
    SENDING_GRACE_SECONDS: '300',
    REPUTATION_GUARD: 'hold',
    REPUTATION_MIN_SENDS: '20',
    REPUTATION_COMPLAINT_RATE: '0.05',
    REPUTATION_BOUNCE_RATE: '0.05',
    REPUTATION_CHECK_DEBOUNCE_MS: '300',
    REPUTATION_BUCKET_SECONDS: '60',
    OPERATOR_TOKEN,
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
  },
});

const run = `${Date.now().toString(36)}`;
const tenant = (name: string) => ({
  tenantId: `rep-${name}-${run}`,
  apiKey: `test-key-rep-${name}-${run}-0123456789`,
  webhookSecret: generateWebhookSecret(),
  senders: [`rep-${name}-${run}.example`],
});
const A = tenant('a');
const B = tenant('b');
const D = tenant('d');
const apiA = apiClient(() => engine.url, A.apiKey);
const apiB = apiClient(() => engine.url, B.apiKey);
const apiD = apiClient(() => engine.url, D.apiKey);
const operator = { 'x-operator-token': OPERATOR_TOKEN };

const SIM = 'simulator.amazonses.com';
const COMPLAINTS = 20;
const A_TOTAL = 300;
const B_TOTAL = 100;
const csvOf = (emails: string[]) => ['email,name', ...emails.map((e, i) => `${e},R${i}`)].join('\n');
const listA = [
  ...Array.from({ length: COMPLAINTS }, (_, i) => `complaint+${run}x${i}@${SIM}`),
  ...Array.from({ length: A_TOTAL - COMPLAINTS }, (_, i) => `success+${run}a${i}@${SIM}`),
];
const listC = [
  ...Array.from({ length: 5 }, (_, i) => `complaint+${run}y${i}@${SIM}`),
  ...Array.from({ length: 55 }, (_, i) => `success+${run}c${i}@${SIM}`),
];
const listB = Array.from({ length: B_TOTAL }, (_, i) => `success+${run}b${i}@${SIM}`);
// 600 a minute: A's 300 take 30 s, long enough for the guard to catch it sending.
const throttle = { emails_per_minute: 600 };

async function metrics(): Promise<string> {
  const res = await fetch(`${engine.url}/metrics`, { headers: operator });
  expect(res.status).toBe(200);
  return res.text();
}

async function withStore<T>(use: (store: Store) => Promise<T>): Promise<T> {
  const aws = createAwsClients(engine.config);
  try {
    return await use(new Store(aws.doc, engine.config.DYNAMODB_TABLE));
  } finally {
    destroyAwsClients(aws);
  }
}

beforeAll(async () => {
  await withStore(async (store) => {
    for (const t of [A, B, D]) await seedTenant(store, t, t.tenantId);
  });
});

describe('the reputation guard', () => {
  it("pauses the tenant whose complaints cross the threshold, while another tenant's campaign completes", async () => {
    const hooks = await startWebhookReceiver(A.webhookSecret);
    try {
      const html = '<p>Hi {{ name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>';
      const templateA = await uploadTemplate(apiA, { from: `news@${A.senders[0]}`, subject: 'A for {{ name }}', html });
      const templateB = await uploadTemplate(apiB, { from: `news@${B.senders[0]}`, subject: 'B for {{ name }}', html });
      const [fileA, fileB] = [await uploadCsv(apiA, csvOf(listA)), await uploadCsv(apiB, csvOf(listB))];
      const started = Date.now();
      const step = (what: string) => console.log(`[reputation e2e] ${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
      const [startA, startB] = await Promise.all([
        apiA.post('/api/v1/campaigns', { template_id: templateA, file_id: fileA, throttle, callback_url: hooks.url }),
        apiB.post('/api/v1/campaigns', { template_id: templateB, file_id: fileB, throttle }),
      ]);
      expect([startA.status, startB.status]).toEqual([202, 202]);
      const idA = startA.body.transaction_id as string;
      const idB = startB.body.transaction_id as string;

      // A pauses itself: PAUSED, with the guard's reason, before it sent everything.
      const pausedA = await waitForStatus(apiA, idA, ['PAUSED', 'COMPLETED', 'FAILED'], 240_000);
      step(`A is ${pausedA.status}, ${pausedA.counts.sent} sent`);
      const pausedAfterMs = Date.now() - started;
      expect(pausedA.status).toBe('PAUSED');
      expect(pausedA.held_reason).toMatch(/^reputation guard: the tenant's complaint rate [\d.]+ % over [\d.]+ h is at or over 5 %$/);
      expect(pausedA.counts.sent).toBeLessThan(A_TOTAL);

      // B, sending meanwhile, is not held and completes with every message sent.
      const finalB = await waitForStatus(apiB, idB, ['COMPLETED', 'FAILED', 'PAUSED'], 240_000);
      step(`B is ${finalB.status}, ${finalB.counts.sent} sent`);
      expect(finalB.status).toBe('COMPLETED');
      expect(finalB.counts.sent).toBe(B_TOTAL);
      expect(finalB.held_reason).toBeNull();
      const repB = await apiB.get('/api/v1/tenant/reputation');
      expect(repB.body).toMatchObject({ held: false, complaints: 0, sends: B_TOTAL, mode: 'hold' });

      // A stays paused: nothing more goes out.
      const sentAtPause = (await apiA.get(`/api/v1/campaigns/${idA}/status`)).body.counts.sent as number;
      await new Promise((r) => setTimeout(r, 5000));
      const stillA = (await apiA.get(`/api/v1/campaigns/${idA}/status`)).body;
      expect(stillA.status).toBe('PAUSED');
      expect(stillA.counts.sent).toBe(sentAtPause);

      // The tenant's state.
      const repA = await apiA.get('/api/v1/tenant/reputation');
      expect(repA.status).toBe(200);
      expect(repA.body).toMatchObject({ tenant_id: A.tenantId, held: true, over_threshold: 'complaint_rate', judged: true });
      expect(repA.body.complaints).toBeGreaterThanOrEqual(1);
      expect(repA.body.held_since).not.toBeNull();
      expect(repA.body.held_reason).toBe(pausedA.held_reason);

      // The PAUSED webhook went out (the workflow's status webhook, as for a pause by the API).
      const pausedHook = await waitFor('the PAUSED webhook', async () => hooks.received.find((h) => h.json.status === 'PAUSED'), 30_000);
      expect(pausedHook.verified).toBe(true);

      // The audit entries: the hold, and the pause by the guard.
      const audit = await apiA.get('/api/v1/audit?limit=100');
      const byGuard = (audit.body.items as { action: string; target?: string; principal: { type: string; id: string } }[]).filter(
        (e) => e.principal.type === 'system' && e.principal.id === 'reputation-guard',
      );
      expect(byGuard.map((e) => [e.action, e.target])).toEqual(
        expect.arrayContaining([
          ['reputation.hold', A.tenantId],
          ['campaigns.pause', idA],
        ]),
      );

      // The metrics.
      const text = await metrics();
      expect(text).toContain(`email_engine_reputation_holds_total{tenant="${A.tenantId}",reason="complaint_rate"} 1`);
      const rateA = Number(new RegExp(`email_engine_tenant_complaint_rate\\{tenant="${A.tenantId}"\\} ([\\d.e-]+)`).exec(text)?.[1]);
      expect(rateA).toBeGreaterThanOrEqual(0.05);
      expect(text).toMatch(new RegExp(`email_engine_tenant_complaint_rate\\{tenant="${B.tenantId}"\\} 0`));

      // While held: no new campaign, no plain resume.
      const another = await apiA.post('/api/v1/campaigns', { template_id: templateA, file_id: fileA });
      expect(another.status).toBe(409);
      expect(another.body.error.code).toBe('TENANT_REPUTATION_HOLD');
      const plainResume = await apiA.post(`/api/v1/campaigns/${idA}/resume`);
      expect(plainResume.status).toBe(409);
      expect(plainResume.body.error.code).toBe('TENANT_REPUTATION_HOLD');
      // The override needs the operator's token as well as the flag.
      const noToken = await apiA.post(`/api/v1/campaigns/${idA}/resume?reputation_override=true`);
      expect(noToken.status).toBe(409);

      // The operator's explicit decision: resumed, audited, left alone by the guard; it completes.
      const resumed = await apiA.post(`/api/v1/campaigns/${idA}/resume?reputation_override=true`, undefined, operator);
      expect(resumed.status).toBe(202);
      step('A resumed by the operator');
      const finalA = await waitForStatus(apiA, idA, ['COMPLETED', 'FAILED'], 240_000);
      step(`A is ${finalA.status}, ${finalA.counts.sent} sent`);
      expect(finalA.status).toBe('COMPLETED');
      expect(finalA.counts.sent).toBe(A_TOTAL);
      expect(finalA.held_reason).toBeNull();
      const resumeEntry = await waitFor(
        'the resume audit entry',
        async () => {
          const page = await apiA.get('/api/v1/audit?action=campaigns.resume');
          return (page.body.items as { outcome: number; details?: Record<string, unknown> }[]).find((e) => e.outcome === 202);
        },
        10_000,
      );
      expect(resumeEntry.details).toMatchObject({ reputation_override: true });
      // The tenant itself stays held (its rate is still over): a new campaign is still refused.
      expect((await apiA.get('/api/v1/tenant/reputation')).body.held).toBe(true);

      // The operator's override on create sticks: the campaign is created with the marker of this
      // hold, and the sweeps its Send events ask for leave it sending; it completes.
      // Its list complains as well (the tenant stays over the threshold); 60 at 600 a minute take
      // 6 s, long enough for the checks its Send events ask for to sweep it.
      const fileC = await uploadCsv(apiA, csvOf(listC));
      const overridden = await apiA.post(
        '/api/v1/campaigns?reputation_override=true',
        { template_id: templateA, file_id: fileC, throttle },
        operator,
      );
      expect(overridden.status).toBe(202);
      const idC = overridden.body.transaction_id as string;
      const recordC = await withStore((store) => store.getTransaction(A.tenantId, idC));
      expect(recordC).toMatchObject({ reputation_override: { held_since: repA.body.held_since } });
      const finalC = await waitForStatus(apiA, idC, ['COMPLETED', 'FAILED', 'PAUSED'], 240_000);
      step(`C (created with the override) is ${finalC.status}, ${finalC.counts.sent} sent`);
      expect(finalC.status).toBe('COMPLETED');
      expect(finalC.counts.sent).toBe(listC.length);

      // Send-now and rescheduling are gated like resume.
      const sendAt = new Date(Date.now() + 86_400_000).toISOString();
      const scheduled = await apiA.post(
        '/api/v1/campaigns?reputation_override=true',
        { template_id: templateA, file_id: fileC, schedule: { send_at: sendAt } },
        operator,
      );
      expect(scheduled.status).toBe(202);
      const idS = scheduled.body.transaction_id as string;
      await waitForStatus(apiA, idS, ['SCHEDULED', 'READY_TO_SEND', 'FAILED'], 120_000);
      const sendNow = await apiA.post(`/api/v1/campaigns/${idS}/send-now`);
      expect([sendNow.status, sendNow.body.error?.code]).toEqual([409, 'TENANT_REPUTATION_HOLD']);
      const reschedule = await apiA.patch(`/api/v1/campaigns/${idS}/schedule`, { send_at: new Date(Date.now() + 60_000).toISOString() });
      expect([reschedule.status, reschedule.body.error?.code]).toEqual([409, 'TENANT_REPUTATION_HOLD']);
      expect((await apiA.post(`/api/v1/campaigns/${idS}/cancel`)).status).toBe(202);

      console.log(
        `[figures] reputation guard: A paused ${(pausedAfterMs / 1000).toFixed(1)} s after start with ${sentAtPause}/${A_TOTAL} sent, ` +
          `complaint rate ${(repA.body.complaint_rate * 100).toFixed(1)} % (${repA.body.complaints}/${repA.body.sends}); ` +
          `B completed ${finalB.counts.sent}/${B_TOTAL}; A after the override ${finalA.counts.sent}/${A_TOTAL}`,
      );
    } finally {
      await hooks.close();
    }
  }, 900_000);

  it('sends nothing for a campaign whose send_at arrives while its tenant is held: the first chunk pauses it', async () => {
    // A scheduled campaign created before the hold starts sending on its own when send_at comes;
    // no sweep has it in view (it was not sending), and no complaint of its own asks for a check.
    const template = await uploadTemplate(apiD, {
      from: `news@${D.senders[0]}`,
      subject: 'D for {{ name }}',
      html: '<p>Hi {{ name }}</p>',
    });
    const file = await uploadCsv(apiD, csvOf(Array.from({ length: 30 }, (_, i) => `success+${run}d${i}@${SIM}`)));
    const sendAt = new Date(Date.now() + 20_000).toISOString();
    const created = await apiD.post('/api/v1/campaigns', { template_id: template, file_id: file, throttle, schedule: { send_at: sendAt } });
    expect(created.status).toBe(202);
    const id = created.body.transaction_id as string;
    expect((await waitForStatus(apiD, id, ['SCHEDULED', 'READY_TO_SEND', 'FAILED'], 60_000)).status).toBe('SCHEDULED');
    // The tenant is held now, as a check in any API process would hold it (the state item).
    const aws = createAwsClients(engine.config);
    const heldSince = new Date().toISOString();
    try {
      const taken = await new ReputationTable(aws.doc, engine.config.DYNAMODB_TABLE).hold(D.tenantId, {
        held_since: heldSince,
        held_reason: 'complaint_rate',
        held_detail: "reputation guard: the tenant's complaint rate 9.0 % over 24 h is at or over 5 %",
        held_rates: { bounce_rate: 0, complaint_rate: 0.09, sends: 1000 },
      });
      expect(taken).toBe(true);
    } finally {
      destroyAwsClients(aws);
    }
    const paused = await waitForStatus(apiD, id, ['PAUSED', 'COMPLETED', 'FAILED'], 120_000);
    expect(paused.status).toBe('PAUSED');
    expect(paused.held_reason).toMatch(/^reputation guard: /);
    expect(paused.counts.sent).toBe(0);
    // Nothing goes out while it stays paused.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await apiD.get(`/api/v1/campaigns/${id}/status`)).body.counts.sent).toBe(0);
    const audit = await apiD.get('/api/v1/audit?action=campaigns.pause');
    expect(
      (audit.body.items as { target?: string; principal: { id: string }; details?: { paused_by?: string } }[]).some(
        (e) => e.target === id && e.principal.id === 'reputation-guard' && e.details?.paused_by === 'send-gate',
      ),
    ).toBe(true);
    // The operator's override lets it through this hold: every message goes out once.
    expect((await apiD.post(`/api/v1/campaigns/${id}/resume?reputation_override=true`, undefined, operator)).status).toBe(202);
    const resumedAt = Date.now();
    // Sent well within SENDING_GRACE_SECONDS (300 s here): the resume ends the deferred chunk's grace wait.
    await waitFor(
      'every message sent after the resume',
      async () => ((await apiD.get(`/api/v1/campaigns/${id}/status`)).body.counts.sent === 30 ? true : undefined),
      90_000,
    );
    const sentAfterS = (Date.now() - resumedAt) / 1000;
    const final = await waitForStatus(apiD, id, ['COMPLETED', 'FAILED'], 600_000);
    expect(final.status).toBe('COMPLETED');
    expect(final.counts.sent).toBe(30);
    // The batch's path: its deferred chunk, the grace wait the resume ended (behind the patch).
    const batchId = batchWorkflowId(id, 1);
    const history = await engine.temporal.workflow.getHandle(batchId).fetchHistory();
    const patches = history
      .events!.filter((e) => e.markerRecordedEventAttributes)
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString()).id);
    expect(patches).toContain(RESUME_ENDS_GRACE);
    await recordHistory(engine.temporal, batchId, 'gate-batch-deferred-resumed');
    console.log(
      `[figures] reputation send gate: a scheduled campaign of a held tenant paused at send_at with 0/30 sent; 30/30 after the override, ${sentAfterS.toFixed(1)} s after the resume`,
    );
  }, 900_000);
});
