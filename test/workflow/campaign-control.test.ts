// Issue 5 on the real dev server, with short times: schedule, reschedule (later, then earlier),
// send-now, cancel while scheduled, pause and resume mid-send with every message sent once,
// cancel mid-send with counts that add up, a held late send, and operators' visibility.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { findTemporalCli } from '../../src/local/temporal-cli';
import { progressQuery, transactionWorkflowId } from '../../src/contracts';
import {
  apiClient,
  header,
  sesInbox,
  startApi,
  startWorkers,
  TENANTS,
  testConfig,
  uploadCsv,
  uploadTemplate,
  waitFor,
  waitForStatus,
  type ApiClient,
} from '../support/harness';
import { recordHistory } from '../support/histories';

const config = testConfig({
  BATCH_SIZE: '20',
  SEND_CHUNK_SIZE: '5',
  MAX_CONCURRENT_BATCHES: '2',
  FINAL_STATE_DEADLINE_SECONDS: '1',
  LATE_SEND_TOLERANCE_SECONDS: '3',
});
let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
let server: Awaited<ReturnType<typeof startApi>>;
let api: ApiClient;
let client: Client;
let templateId: string;

beforeAll(async () => {
  workers = await startWorkers(config);
  server = await startApi(config);
  api = apiClient(server.url, TENANTS.a.apiKey);
  client = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS! }) });
  templateId = await uploadTemplate(api, { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' });
});
afterAll(async () => {
  await client?.connection.close();
  await server?.close();
  await workers?.stop();
});

const inFuture = (ms: number) => new Date(Date.now() + ms).toISOString();
const csvOf = (n: number, tag: string) =>
  ['email,name', ...Array.from({ length: n }, (_, i) => `${tag}${i}-${Date.now()}@example.com,N${i}`)].join('\n');
async function start(n: number, extra: Record<string, unknown> = {}) {
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, csvOf(n, 'c')), ...extra });
  expect(res.status).toBe(202);
  return res.body.transaction_id as string;
}
const mailsOf = async (id: string) => (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id);
const readyAt = (status: any) => Date.parse(status.status_history.find((h: any) => h.status === 'READY_TO_SEND').timestamp);
const sentCount = async (id: string) => (await api.get(`/api/v1/campaigns/${id}/status`)).body.counts.sent as number;

describe('scheduling', () => {
  it('fires at send_at; reschedule later then earlier moves the timer; send-now fires at once', async () => {
    const plain = await start(2, { schedule: { send_at: inFuture(5000) } });
    const moved = await start(2, { schedule: { send_at: inFuture(60_000) } });
    const now = await start(2, { schedule: { send_at: inFuture(3_600_000) } });
    await waitForStatus(api, plain, ['SCHEDULED']);
    await waitForStatus(api, moved, ['SCHEDULED']);
    await waitForStatus(api, now, ['SCHEDULED']);

    expect((await api.patch(`/api/v1/campaigns/${moved}/schedule`, { send_at: inFuture(600_000) })).status).toBe(200);
    const earlier = inFuture(2500);
    const res = await api.patch(`/api/v1/campaigns/${moved}/schedule`, { send_at: earlier });
    expect(res.body).toMatchObject({ status: 'SCHEDULED', send_at: earlier });
    expect((await api.get(`/api/v1/campaigns/${moved}/status`)).body.schedule).toEqual({ send_at: earlier });
    expect((await api.post(`/api/v1/campaigns/${now}/send-now`)).status).toBe(202);

    const sentNow = await waitForStatus(api, now, ['SENT', 'COMPLETED'], 30_000);
    expect(readyAt(sentNow)).toBeLessThan(Date.now());
    const sentPlain = await waitForStatus(api, plain, ['SENT', 'COMPLETED'], 30_000);
    const sentMoved = await waitForStatus(api, moved, ['SENT', 'COMPLETED'], 30_000);
    expect(readyAt(sentMoved)).toBeGreaterThanOrEqual(Date.parse(earlier));
    expect(readyAt(sentMoved)).toBeLessThan(Date.parse(earlier) + 10_000);
    expect(readyAt(sentPlain)).toBeGreaterThan(Date.parse(sentPlain.status_history[0].timestamp) + 1500);
    for (const id of [plain, moved, now]) expect(await mailsOf(id)).toHaveLength(2);
  });

  it('a send_at in the past sends now; control requests the state does not allow are refused with 409', async () => {
    const id = await start(2, { schedule: { send_at: new Date(Date.now() - 60_000).toISOString() } });
    const done = await waitForStatus(api, id, ['SENT', 'COMPLETED']);
    expect(done.status_history.map((h: any) => h.status)).not.toContain('SCHEDULED');
    const resume = await api.post(`/api/v1/campaigns/${id}/resume`);
    expect(resume.status).toBe(409);
    expect(resume.body.error.code).toBe('CAMPAIGN_STATE_CONFLICT');
    await waitForStatus(api, id, ['COMPLETED']);
    expect((await api.post(`/api/v1/campaigns/${id}/cancel`)).status).toBe(409);
  });

  it('operators find a scheduled campaign by search attribute with the temporal CLI, and query its progress', async () => {
    const id = await start(1, { schedule: { send_at: inFuture(3_600_000) } });
    await waitForStatus(api, id, ['SCHEDULED']);
    const cli = await findTemporalCli();
    const listed = await waitFor(
      'visibility',
      async () => {
        const out = execFileSync(
          cli.path!,
          ['workflow', 'list', '--address', config.TEMPORAL_ADDRESS!, '--query', "TransactionStatus='SCHEDULED'"],
          { encoding: 'utf8' },
        );
        return out.includes(transactionWorkflowId(id)) ? out : undefined;
      },
      20_000,
    );
    expect(listed).toContain('transactionWorkflow');
    const progress = await client.workflow.getHandle(transactionWorkflowId(id)).query(progressQuery);
    expect(progress).toMatchObject({ status: 'SCHEDULED', batchCount: 1, batchesStarted: 0 });
    const description = await client.workflow.getHandle(transactionWorkflowId(id)).describe();
    expect(await description.memo).toMatchObject({ template_id: templateId });

    expect((await api.post(`/api/v1/campaigns/${id}/cancel`)).status).toBe(202);
    const cancelled = await waitForStatus(api, id, ['CANCELLED']);
    expect(cancelled.counts).toMatchObject({ sent: 0, cancelled: 1 });
    expect(await mailsOf(id)).toHaveLength(0);
  });

  it('holds a send whose time passed while the engine was down, until send-now', async () => {
    const id = await start(2, { schedule: { send_at: inFuture(2000) } });
    await waitForStatus(api, id, ['SCHEDULED']);
    await workers!.stop();
    await new Promise((r) => setTimeout(r, 8000));
    workers = await startWorkers(config);
    const held = await waitFor('held', async () => {
      const s = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
      return s.held_reason ? s : undefined;
    });
    expect(held.status).toBe('SCHEDULED');
    expect(await mailsOf(id)).toHaveLength(0);
    expect((await api.post(`/api/v1/campaigns/${id}/send-now`)).status).toBe(202);
    await waitForStatus(api, id, ['COMPLETED']);
    expect(await mailsOf(id)).toHaveLength(2);
    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-late-send-held');
  });
});

describe('control while sending', () => {
  it('pause stops sending until resume, and every message is sent exactly once', async () => {
    const id = await start(60, { throttle: { emails_per_minute: 600 } });
    await waitFor('sending started', async () => ((await sentCount(id)) >= 10 ? true : undefined), 60_000);
    const paused = await api.post(`/api/v1/campaigns/${id}/pause`);
    expect(paused.status).toBe(202);
    await waitForStatus(api, id, ['PAUSED']);
    // Chunks in flight finish: the inbox stops growing (on a loaded machine a chunk or more can
    // land after PAUSED is recorded; a pause that did not hold would send all 60 first).
    let last = -1;
    const during = await waitFor(
      'the inbox to stop growing',
      async () => {
        const now = (await mailsOf(id)).length;
        const still = now === last;
        last = now;
        if (!still) await new Promise((r) => setTimeout(r, 1500));
        return still ? now : undefined;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 2500));
    expect((await mailsOf(id)).length).toBe(during);
    expect(during).toBeLessThan(60);
    expect((await api.post(`/api/v1/campaigns/${id}/resume`)).status).toBe(202);
    const done = await waitForStatus(api, id, ['SENT', 'COMPLETED'], 60_000);
    expect(done.counts.sent).toBe(60);
    const mails = await mailsOf(id);
    expect(new Set(mails.map((m) => m.destination.to[0])).size).toBe(60);
    expect(mails).toHaveLength(60);
    expect(done.status_history.map((h: any) => h.status)).toEqual(expect.arrayContaining(['PAUSED', 'READY_TO_SEND']));
    await waitForStatus(api, id, ['COMPLETED']);
    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-paused-resumed');
  });

  it('a pause during the last chunk still ends SENT then COMPLETED in DynamoDB, not PAUSED for ever', async () => {
    // One recipient at 6 a minute: the only chunk goes out at once, then the batch holds its
    // slot for 10 s before it reports "sent". A pause in that window lands after the last chunk.
    const id = await start(1, { throttle: { emails_per_minute: 6 } });
    await waitFor('the only message sent', async () => ((await mailsOf(id)).length === 1 ? true : undefined), 30_000);
    expect((await api.post(`/api/v1/campaigns/${id}/pause`)).status).toBe(202);
    await waitForStatus(api, id, ['PAUSED']);
    const result = await client.workflow.getHandle(transactionWorkflowId(id)).result();
    expect(result.status).toBe('COMPLETED');
    const stored = await waitForStatus(api, id, ['COMPLETED'], 30_000);
    expect(stored.status_history.map((h: any) => h.status)).toEqual([
      'ACCEPT',
      'PROCESSING',
      'READY_TO_SEND',
      'PAUSED',
      'SENT',
      'COMPLETED',
    ]);
    expect(stored.counts).toMatchObject({ sent: 1, failed: 0, cancelled: 0 });
    expect(stored.progress.total_messages).toBe(1);
    expect(await mailsOf(id)).toHaveLength(1);
    // Nothing is left to resume once every message was handed to SES.
    expect((await api.post(`/api/v1/campaigns/${id}/resume`)).status).toBe(409);
    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-paused-in-last-chunk');
  });

  it('cancel stops further sends, keeps what was sent, and the counts add up', async () => {
    const id = await start(60, { throttle: { emails_per_minute: 600 } });
    await waitFor('sending started', async () => ((await sentCount(id)) >= 10 ? true : undefined), 60_000);
    expect((await api.post(`/api/v1/campaigns/${id}/cancel`)).status).toBe(202);
    const final = await waitForStatus(api, id, ['CANCELLED'], 60_000);
    const mails = await mailsOf(id);
    expect(final.counts.sent).toBe(mails.length);
    expect(final.counts.sent).toBeLessThan(60);
    expect(final.counts.sent + final.counts.cancelled).toBe(60);
    const cancelled = await api.get(`/api/v1/campaigns/${id}/messages?status=CANCELLED&limit=100`);
    expect(cancelled.body.items.length).toBe(final.counts.cancelled);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await mailsOf(id)).toHaveLength(mails.length);
    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-cancelled-mid-send');
  });
});
