// The transaction and batch workflows on the real dev server with a real worker and real
// activities (every workflow task replayed: maxCachedWorkflows 0). Records the histories
// that test/replay replays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { batchWorkflowId, searchAttributeKeys, transactionWorkflowId, type TransactionResult } from '../../src/contracts';
import {
  apiClient,
  sesInbox,
  header,
  startApi,
  startWorkers,
  TENANTS,
  testConfig,
  uploadCsv,
  uploadTemplate,
  waitForStatus,
  type ApiClient,
} from '../support/harness';
import { recordHistory } from '../support/histories';

// No SES events reach this test: batches stop waiting for outcomes after 2 s.
const config = testConfig({ BATCH_SIZE: '4', SEND_CHUNK_SIZE: '3', MAX_CONCURRENT_BATCHES: '2', FINAL_STATE_DEADLINE_SECONDS: '2' });
let workers: Awaited<ReturnType<typeof startWorkers>>;
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

async function start(csv: string, extra: Record<string, unknown> = {}) {
  const fileId = await uploadCsv(api, csv);
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, ...extra });
  expect(res.status).toBe(202);
  return res.body.transaction_id as string;
}

const recipients = (n: number) =>
  ['email,name', ...Array.from({ length: n }, (_, i) => `wf${i}-${Date.now()}@example.com,N${i}`)].join('\n');

describe('transactionWorkflow', () => {
  it('fans out one child per batch, at most two at a time, passes SENT and ends COMPLETED at the deadline', async () => {
    const id = await start(recipients(10));
    const result: TransactionResult = await client.workflow.getHandle(transactionWorkflowId(id)).result();
    expect(result.status).toBe('COMPLETED');
    // Nothing reported an outcome, so all ten are still pending (unknown) at the deadline.
    expect(result.totals).toMatchObject({ total: 10, sent: 10, failed: 0, suppressed: 0, delivered: 0, pending: 10 });
    const status = await api.get(`/api/v1/campaigns/${id}/status`);
    expect(status.body.status_history.map((h: { status: string }) => h.status)).toEqual([
      'ACCEPT',
      'PROCESSING',
      'READY_TO_SEND',
      'SENT',
      'COMPLETED',
    ]);

    const history = await client.workflow.getHandle(transactionWorkflowId(id)).fetchHistory();
    const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(children.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId)).toEqual([
      batchWorkflowId(id, 1),
      batchWorkflowId(id, 2),
      batchWorkflowId(id, 3),
    ]);
    // Batch 1 holds 4 messages sent in chunks of 3: two send activities, the proof pass over
    // what is not settled yet (nothing), then the recount, which reports to the transaction
    // itself (no signal commands in the batch's history).
    const batch = await client.workflow.getHandle(batchWorkflowId(id, 1)).fetchHistory();
    const activities = batch
      .events!.filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    expect(activities.slice(0, 4)).toEqual(['sendBatchChunk', 'sendBatchChunk', 'sendBatchChunk', 'tallyBatch']);
    const proof = batch.events!.filter((e) => e.activityTaskScheduledEventAttributes)[2]!;
    expect(proof.activityTaskScheduledEventAttributes!.input!.payloads![0]!.data!.toString()).toContain('"unsettledOnly":true');
    // A new batch takes the patches of its time: tracing, the Temporal UI summaries, the proof pass and soft-bounce retries.
    const patchIds = batch
      .events!.filter((e) => e.markerRecordedEventAttributes)
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString()).id);
    expect(patchIds.sort()).toEqual(['otel-tracing', 'prove-batch-sent', 'soft-bounce-retries', 'ui-summaries']);
    expect(activities.at(-1)).toBe('tallyBatch');
    expect(batch.events!.filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes)).toHaveLength(0);
    const received = history
      .events!.filter((e) => e.workflowExecutionSignaledEventAttributes)
      .map((e) => e.workflowExecutionSignaledEventAttributes!.signalName);
    expect(received.filter((n) => n === 'batchSent')).toHaveLength(3);
    expect(received.filter((n) => n === 'batchCompleted')).toHaveLength(3);

    const description = await client.workflow.getHandle(transactionWorkflowId(id)).describe();
    expect(description.typedSearchAttributes.get(searchAttributeKeys.transactionStatus)).toBe('COMPLETED');
    const inbox = (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id);
    expect(inbox).toHaveLength(10);

    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-sent');
    // batch-sent.json was recorded before the proof pass (PROVE_BATCH_SENT); this is the path with it.
    await recordHistory(client, batchWorkflowId(id, 1), 'batch-sent-proved');
  });

  it('continues as new when batch signals fill a run, and still ends with exact totals', async () => {
    // 45 one-message batches signal twice each: 90 signals, past the per-run budget of 80.
    const small = testConfig({
      ...Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])),
      BATCH_SIZE: '1',
      MAX_CONCURRENT_BATCHES: '8',
    });
    const smallApi = await startApi(small);
    try {
      const fileId = await uploadCsv(api, recipients(45));
      const res = await apiClient(smallApi.url, TENANTS.a.apiKey).post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
      const id = res.body.transaction_id as string;
      const result: TransactionResult = await client.workflow.getHandle(transactionWorkflowId(id)).result();
      expect(result.status).toBe('COMPLETED');
      expect(result.totals).toMatchObject({ total: 45, sent: 45, pending: 45 });
      const history = await client.workflow.getHandle(transactionWorkflowId(id)).fetchHistory();
      const started = history.events!.find((e) => e.workflowExecutionStartedEventAttributes)!.workflowExecutionStartedEventAttributes!;
      expect(started.continuedExecutionRunId).toBeTruthy();
      const runs = await client.workflow.list({ query: `WorkflowId = '${transactionWorkflowId(id)}'` });
      let count = 0;
      for await (const _ of runs) count += 1;
      expect(count).toBeGreaterThanOrEqual(2);
      expect((await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id)).toHaveLength(45);
      await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-continued-as-new-final-run');
    } finally {
      await smallApi.close();
    }
  });

  it('ends FAILED with the reason when no row of the file is valid', async () => {
    const id = await start('email,name\nnot-an-email,Ada\nalso@bad,Bob\n');
    const result: TransactionResult = await client.workflow.getHandle(transactionWorkflowId(id)).result();
    expect(result.status).toBe('FAILED');
    expect(result.reason).toBe('the file has no valid recipient');
    const status = await api.get(`/api/v1/campaigns/${id}/status`);
    expect(status.body.status).toBe('FAILED');
    expect(status.body.reason).toBe('the file has no valid recipient');
    expect(status.body.counts.invalid).toBe(2);
    expect(status.body.status_history.map((h: { status: string }) => h.status)).toEqual(['ACCEPT', 'PROCESSING', 'FAILED']);
    await recordHistory(client, transactionWorkflowId(id), 'phases-transaction-failed-no-valid-row');
  });

  it('waits for send_at on a durable timer, and cancel while scheduled sends nothing', async () => {
    const sendAt = new Date(Date.now() + 2_500).toISOString();
    const scheduled = await start(recipients(3), { schedule: { send_at: sendAt } });
    const cancelled = await start(recipients(3), { schedule: { send_at: new Date(Date.now() + 3_600_000).toISOString() } });
    await waitForStatus(api, scheduled, ['SCHEDULED']);
    await waitForStatus(api, cancelled, ['SCHEDULED']);
    expect((await api.post(`/api/v1/campaigns/${cancelled}/cancel`)).status).toBe(202);

    const sent = await waitForStatus(api, scheduled, ['SENT'], 30_000);
    const readyAt = sent.status_history.find((h: { status: string }) => h.status === 'READY_TO_SEND').timestamp;
    expect(Date.parse(readyAt)).toBeGreaterThanOrEqual(Date.parse(sendAt));

    const final = await waitForStatus(api, cancelled, ['CANCELLED']);
    expect(final.counts.sent).toBe(0);
    expect((await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === cancelled)).toHaveLength(0);
    await recordHistory(client, transactionWorkflowId(scheduled), 'phases-transaction-scheduled');
    await recordHistory(client, transactionWorkflowId(cancelled), 'phases-transaction-cancelled-while-scheduled');
  });
});
