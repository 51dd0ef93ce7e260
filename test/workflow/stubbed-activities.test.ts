// The real transactionWorkflow and batchWorkflow on the stack's dev server, with in-memory
// activities in place of the real ones: the workflow logic alone (fan-out limits, failures,
// schedule, control, outcome waits, continue-as-new, the order of status changes), in seconds.
// Only the public contract is used: the workflow type and its input, the updates, queries and
// signals of src/contracts, and the Activities interface (the stub tally, like the real one,
// reports each batch to its transaction by signal).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, WorkflowNotFoundError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { transactionWorkflow } from '../../workflows';
import {
  batchCompletedSignal,
  batchSentSignal,
  batchWorkflowId,
  cancelUpdate,
  emptyTally,
  outcomesSignal,
  pauseUpdate,
  progressQuery,
  rescheduleUpdate,
  resumeUpdate,
  sendNowUpdate,
  transactionWorkflowId,
  WORKFLOW_INPUT_VERSION,
  type BatchTally,
  type Throttle,
  type TransactionOptions,
} from '../../src/contracts';
import type { SendWindow } from '../../src/domain/send-window';
import { temporalConnectionOptions } from '../../src/temporal-connection';
import { recordHistory } from '../support/histories';
import { testConfig, waitFor } from '../support/harness';

/** What the stub ingest "finds" in a campaign's file, and what its stub sends do. */
interface Scenario {
  batches: number;
  perBatch: number;
  /** Rows found; default batches × perBatch. */
  totalMessages?: number;
  /** Valid rows; default totalMessages. */
  valid?: number;
  /** Ingest throws this on the given attempts (every attempt when `attempts` is absent). */
  ingestError?: { error: () => Error; attempts?: number[] };
  /** How long each ingest call (the whole file, or one segment) takes. */
  ingestMs?: number;
  /** The segment that reads up to this batch fails for good (pipelined start). */
  failSegment?: number;
  /** How long one send chunk takes. */
  chunkMs?: number;
  /** Sending a chunk of this batch fails for good, as on an SES account error. */
  failBatch?: string;
  /** Only the chunk of this batch starting at this offset fails so (send lanes: one lane's failure). */
  failChunk?: { batchId: string; offset: number };
  /** Sent messages have no outcome until `outcomesIn` is set. */
  holdOutcomes?: boolean;
  /** The first chunk of this batch leaves `count` messages unsettled (another attempt held them). */
  leaveUnsettled?: { batchId: string; count: number };
}

/** What the stub activities saw for one campaign. */
interface Recorded extends Scenario {
  /** recordTransactionStatus, in order. */
  statuses: string[];
  /** deliverWebhook, in order. */
  webhooks: string[];
  /** Every activity call worth ordering: `status X`, `chunk b00001@0`, `tally b00001 sent`. */
  log: string[];
  reconciled: { phase: string; totals: BatchTally }[];
  ingestAttempts: number;
  /** Each ingest call's last batch: `untilBatch` of a segment, 'all' for the whole file. */
  segments: (number | 'all')[];
  chunks: number;
  sentByBatch: Map<string, number>;
  /** Messages a chunk left unsettled, by batch, until the proof pass sends them. */
  unsettled: Map<string, number>;
  /** Batches between their first chunk and their 'sent' tally, now and at most. */
  sending: Set<string>;
  maxSending: number;
  /** Chunks of one batch in flight at once, now and at most (send lanes). */
  inFlight: Map<string, number>;
  maxInFlight: number;
  /** Message offsets each chunk took, by batch (lanes must never take one twice). */
  taken: Map<string, number[]>;
  /** Chunks of the batch still in flight when its 'sent' tally ran. */
  inFlightAtTally: Map<string, number>;
  outcomesIn: boolean;
}

const config = testConfig();
const taskQueue = config.TEMPORAL_TASK_QUEUE;
const campaigns = new Map<string, Recorded>();
const of = (transactionId: string): Recorded => {
  const c = campaigns.get(transactionId);
  if (!c) throw ApplicationFailure.nonRetryable(`no scenario for ${transactionId}`, 'NoScenario');
  return c;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let connection: NativeConnection;
let client: Client;
let worker: Worker;
let running: Promise<void>;

const activities: Activities = {
  // The whole file, or (pipelined start) the file up to a segment's last batch, with where the
  // next segment goes on from. The file's suppressed rows come first (valid rows are the last).
  async ingestRecipients(input) {
    const c = of(input.transactionId);
    const segment = input.segment;
    c.ingestAttempts += 1;
    c.segments.push(segment?.untilBatch ?? 'all');
    c.log.push(segment ? `ingest ≤b${segment.untilBatch}` : 'ingest');
    if (c.ingestError && (!c.ingestError.attempts || c.ingestError.attempts.includes(c.ingestAttempts))) throw c.ingestError.error();
    if (c.failSegment !== undefined && segment?.untilBatch === c.failSegment)
      throw ApplicationFailure.nonRetryable('row 42 could not be read', 'InvalidRecipientFile');
    if (c.ingestMs) await sleep(c.ingestMs);
    const wholeFile = c.totalMessages ?? c.batches * c.perBatch;
    const batchCount = segment ? Math.min(c.batches, segment.untilBatch) : c.batches;
    const more = batchCount < c.batches;
    const totalMessages = more ? batchCount * c.perBatch : wholeFile;
    const valid = Math.max(0, (c.valid ?? wholeFile) - (wholeFile - totalMessages));
    c.log.push(`ingested ${batchCount} batches${more ? '' : ', all'}`);
    return {
      totalMessages,
      batchCount,
      valid,
      invalid: 0,
      suppressed: totalMessages - valid,
      ...(more ? { resume: { row: totalMessages, suppressed: totalMessages - valid } } : {}),
    };
  },
  async sendBatchChunk(input) {
    const c = of(input.transactionId);
    if (input.unsettledOnly) {
      // The batch's proof pass: send what the chunks left unsettled.
      const left = c.unsettled.get(input.batchId) ?? 0;
      c.unsettled.set(input.batchId, 0);
      c.sentByBatch.set(input.batchId, (c.sentByBatch.get(input.batchId) ?? 0) + left);
      c.log.push(`proof ${input.batchId} ${left}`);
      return { sent: left, failed: 0, suppressed: 0, skipped: 0, deferred: 0 };
    }
    // A lane's cursor is the chunk bound before it (an offset, as the stub chunkBounds gives).
    const offset = (input.cursor?.offset as number | undefined) ?? (input.cursor?.SK !== undefined ? Number(input.cursor.SK) : 0);
    const end = input.until !== undefined ? Number(input.until) : c.perBatch;
    if (offset === 0) {
      c.sending.add(input.batchId);
      c.maxSending = Math.max(c.maxSending, c.sending.size);
    }
    c.chunks += 1;
    c.log.push(`chunk ${input.batchId}@${offset}`);
    // One lane's chunk fails at once, while the other lanes' chunks are still running.
    if (c.failChunk?.batchId === input.batchId && c.failChunk.offset === offset)
      throw ApplicationFailure.nonRetryable('sending paused for the account', 'SesAccountError');
    const flying = (c.inFlight.get(input.batchId) ?? 0) + 1;
    c.inFlight.set(input.batchId, flying);
    c.maxInFlight = Math.max(c.maxInFlight, flying);
    await sleep(c.chunkMs ?? 20);
    c.inFlight.set(input.batchId, (c.inFlight.get(input.batchId) ?? 1) - 1);
    if (c.failBatch === input.batchId) throw ApplicationFailure.nonRetryable('sending paused for the account', 'SesAccountError');
    const inChunk = Math.min(input.limit, end - offset);
    const taken = c.taken.get(input.batchId) ?? [];
    for (let i = offset; i < offset + inChunk; i++) taken.push(i);
    c.taken.set(input.batchId, taken);
    const skipped = offset === 0 && c.leaveUnsettled?.batchId === input.batchId ? c.leaveUnsettled.count : 0;
    if (skipped > 0) c.unsettled.set(input.batchId, skipped);
    const sent = inChunk - skipped;
    c.sentByBatch.set(input.batchId, (c.sentByBatch.get(input.batchId) ?? 0) + sent);
    const next = offset + inChunk;
    return { sent, failed: 0, suppressed: 0, skipped, deferred: 0, nextCursor: next < end ? { offset: next } : undefined };
  },
  // Bounds as offsets: chunk j ends at message (j + 1) × chunkSize, the last at the batch's end.
  async chunkBounds(input) {
    const c = of(input.transactionId);
    c.log.push(`bounds ${input.batchId}`);
    const bounds: string[] = [];
    for (let end = input.chunkSize; end < c.perBatch + input.chunkSize; end += input.chunkSize)
      bounds.push(String(Math.min(end, c.perBatch)));
    return { pk: 'stub', bounds };
  },
  // As the real tallyBatch: counts, then (asked to report) signals the transaction, 'sent' after
  // the first count and 'completed' once no outcome is pending (or at the deadline), unless cancelled.
  async tallyBatch(input) {
    const c = of(input.transactionId);
    const cancelled = input.cancelled ?? false;
    if (input.phase === 'sent') {
      c.sending.delete(input.batchId);
      c.inFlightAtTally.set(input.batchId, c.inFlight.get(input.batchId) ?? 0);
    }
    c.log.push(`tally ${input.batchId} ${input.phase}`);
    const sent = c.sentByBatch.get(input.batchId) ?? 0;
    const pending = c.holdOutcomes && !c.outcomesIn ? sent : 0;
    const tally: BatchTally = {
      ...emptyTally(),
      total: c.perBatch,
      sent,
      cancelled: cancelled ? c.perBatch - sent : 0,
      delivered: sent - pending,
      pending,
    };
    if (input.report) {
      const handle = client.workflow.getHandle(transactionWorkflowId(input.transactionId));
      const report = { batchNumber: input.report.batchNumber, tally, ...(input.report.failure ? { failure: input.report.failure } : {}) };
      try {
        if (input.phase === 'sent') await handle.signal(batchSentSignal, report);
        if ((input.phase === 'completed' || tally.pending === 0) && !cancelled)
          await handle.signal(batchCompletedSignal, { batchNumber: report.batchNumber, tally });
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }
    return tally;
  },
  async recordTransactionStatus(change) {
    const c = of(change.transactionId);
    c.statuses.push(change.status);
    c.log.push(`status ${change.status}`);
    return true;
  },
  async reconcileTransactionCounts(input) {
    const t = input.totals;
    of(input.transactionId).reconciled.push({ phase: input.phase, totals: t });
    return { sent: t.sent, failed: t.failed, suppressed: t.suppressed, cancelled: t.cancelled };
  },
  async annotateTransaction(input) {
    of(input.transactionId).log.push(`annotate ${JSON.stringify(input.fields)}`);
  },
  async deliverWebhook(request) {
    of(request.transactionId).webhooks.push(request.status);
    return 'no_callback';
  },
};

beforeAll(async () => {
  connection = await NativeConnection.connect(temporalConnectionOptions(config));
  client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  // One queue for both workflows and all activities (the batches send on `sendTaskQueue`: the same).
  // Workflow cache on, for speed: replaying every task is the other workflow tests' and test/replay's job.
  worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities,
  });
  running = worker.run();
});
afterAll(async () => {
  if (worker?.getState() === 'RUNNING') worker.shutdown();
  await running;
  await connection?.close();
});

async function start(
  scenario: Scenario,
  options: Partial<TransactionOptions> = {},
  sendAt?: string,
  extra: { sendWindow?: SendWindow; noCallback?: true; throttle?: Throttle } = {},
): Promise<{ id: string; handle: WorkflowHandle<typeof transactionWorkflow>; c: Recorded }> {
  const id = `stub-${randomUUID()}`;
  const c: Recorded = {
    ...scenario,
    statuses: [],
    webhooks: [],
    log: [],
    reconciled: [],
    ingestAttempts: 0,
    segments: [],
    chunks: 0,
    sentByBatch: new Map(),
    unsettled: new Map(),
    sending: new Set(),
    maxSending: 0,
    inFlight: new Map(),
    maxInFlight: 0,
    taken: new Map(),
    inFlightAtTally: new Map(),
    outcomesIn: false,
  };
  campaigns.set(id, c);
  const handle = await client.workflow.start<typeof transactionWorkflow>('transactionWorkflow', {
    workflowId: transactionWorkflowId(id),
    taskQueue,
    args: [
      {
        version: WORKFLOW_INPUT_VERSION,
        transactionId: id,
        tenantId: 'tenant-a',
        templateId: 'template',
        fileId: 'file',
        sendAt,
        ...extra,
        options: {
          batchSize: scenario.perBatch,
          maxConcurrentBatches: 2,
          sendChunkSize: 5,
          sendTaskQueue: taskQueue,
          finalStateDeadlineMs: 10_000,
          outcomePollMs: 5_000,
          sendingGraceMs: 1_000,
          lateSendToleranceMs: 60_000,
          lateSendPolicy: 'send',
          ...options,
        },
      },
    ],
  });
  return { id, handle, c };
}

const reached = (c: Recorded, status: string) =>
  waitFor(`status ${status}`, async () => (c.statuses.includes(status) ? true : undefined), 10_000);
const inFuture = (ms: number) => new Date(Date.now() + ms).toISOString();
/** An update the workflow's validator refuses fails with WorkflowUpdateFailedError (the API's 409). */
const refused = (update: Promise<unknown>) =>
  update.then(
    () => false,
    (error: unknown) => error instanceof WorkflowUpdateFailedError,
  );

describe('fan-out', () => {
  it.each([1, 3])(
    'keeps at most %i batches sending at a time, starts each once in order, and records ACCEPT → … → COMPLETED',
    async (max) => {
      const { id, handle, c } = await start({ batches: 7, perBatch: 10, chunkMs: 100 }, { maxConcurrentBatches: max });
      const result = await handle.result();
      expect(result.status).toBe('COMPLETED');
      expect(result.totals).toMatchObject({ total: 70, sent: 70, cancelled: 0, delivered: 70, pending: 0 });
      expect(c.maxSending).toBe(max);
      const history = await handle.fetchHistory();
      const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
      expect(children.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId)).toEqual(
        Array.from({ length: 7 }, (_, i) => batchWorkflowId(id, i + 1)),
      );
      expect(c.chunks).toBe(14);
      expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
      expect(c.webhooks).toEqual(['ACCEPT', 'PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
      expect(c.reconciled.map((r) => [r.phase, r.totals.sent])).toEqual([
        ['sent', 70],
        ['completed', 70],
      ]);
      expect(await handle.query(progressQuery)).toMatchObject({
        status: 'COMPLETED',
        batchCount: 7,
        batchesStarted: 7,
        batchesSent: 7,
        batchesCompleted: 7,
      });
    },
  );

  it('continues as new when batch signals fill a run, and ends with exact totals', async () => {
    // 45 one-message batches signal twice each: 90 signals, past a run's budget of 80.
    const { id, handle, c } = await start({ batches: 45, perBatch: 1, chunkMs: 1 }, { maxConcurrentBatches: 8 });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { total: 45, sent: 45, pending: 0 } });
    const last = await client.workflow.getHandle(transactionWorkflowId(id)).fetchHistory();
    expect(last.events![0]!.workflowExecutionStartedEventAttributes!.continuedExecutionRunId).toBeTruthy();
    // Pipelined start: each segment of the file read once, across the runs (1, 2, 4… batches).
    expect(c.segments).toEqual([1, 2, 4, 8, 16, 32, 64]);
    expect(c.chunks).toBe(45);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });
});

describe('pipelined start (issue 18, item 1)', () => {
  const childIds = async (handle: WorkflowHandle) =>
    (await handle.fetchHistory()).events!.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);

  it('the first batch sends while the rest of the file is read; every batch starts once, in order; the totals are the whole file', async () => {
    const { id, handle, c } = await start({ batches: 6, perBatch: 10, chunkMs: 50, ingestMs: 300 }, { maxConcurrentBatches: 2 });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { total: 60, sent: 60, pending: 0 } });
    // Segments of 1, 2, 4… batches: the last one asks for 8 and finds the file's end at 6.
    expect(c.segments).toEqual([1, 2, 4, 8]);
    expect(c.log.indexOf('chunk b00001@0')).toBeGreaterThan(c.log.indexOf('ingested 1 batches'));
    expect(c.log.indexOf('chunk b00001@0')).toBeLessThan(c.log.indexOf('ingested 6 batches, all'));
    expect(c.log.indexOf('status READY_TO_SEND')).toBeLessThan(c.log.indexOf('ingest ≤b2'));
    expect(await childIds(handle)).toEqual(Array.from({ length: 6 }, (_, i) => batchWorkflowId(id, i + 1)));
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
    expect(c.reconciled.map((r) => [r.phase, r.totals.total])).toEqual([
      ['sent', 60],
      ['completed', 60],
    ]);
    expect(await handle.query(progressQuery)).toMatchObject({ batchCount: 6, batchesStarted: 6, batchesCompleted: 6 });
    await recordHistory(client, transactionWorkflowId(id), 'pipelined-transaction-sent');
  });

  it('a run full of batch signals hands over between two segments; the next run reads the rest', async () => {
    // 200 one-message batches: the run is full (80 signals) while batches 1-128 send; it hands over once segment 128 is stored.
    const { id, handle, c } = await start({ batches: 200, perBatch: 1, chunkMs: 1, ingestMs: 700 }, { maxConcurrentBatches: 8 });
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', totals: { total: 200, sent: 200, pending: 0 } });
    expect(c.segments).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    // The runs, first to last, and the segments each read: a later run read some (the file's position went over with the state).
    const runs: string[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${transactionWorkflowId(id)}'` })) runs.push(run.runId);
    const segmentsIn = async (runId: string) =>
      (await client.workflow.getHandle(transactionWorkflowId(id), runId).fetchHistory()).events!.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'ingestRecipients',
      ).length;
    const perRun = await Promise.all(runs.map(segmentsIn));
    expect(runs.length).toBeGreaterThan(1);
    expect(perRun.reduce((a, b) => a + b, 0)).toBe(9);
    expect(Math.max(...perRun)).toBeLessThan(9);
    expect(c.chunks).toBe(200);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
    // 200 batch workflows and 9 segments: beside the whole suite on 2 cores it took over 60 s once.
  }, 180_000);

  it('a scheduled campaign reads its whole file before it waits; a throttled one starts with its parallel batches', async () => {
    // Far enough ahead that the whole file is read before it, on a loaded machine too (300 ms was not, once).
    const scheduled = await start({ batches: 3, perBatch: 5 }, {}, inFuture(4_000));
    const throttled = await start({ batches: 5, perBatch: 4 }, { maxConcurrentBatches: 3 }, undefined, {
      throttle: { emails_per_minute: 6000 },
    });
    expect((await scheduled.handle.result()).status).toBe('COMPLETED');
    expect(scheduled.c.segments).toEqual(['all']);
    expect(scheduled.c.statuses).toEqual(['PROCESSING', 'SCHEDULED', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
    expect(await throttled.handle.result()).toMatchObject({ status: 'COMPLETED', totals: { total: 20, sent: 20 } });
    // Its pace is shared by its parallel batches: their number is known before the first starts.
    expect(throttled.c.segments).toEqual([3, 6]);
  });

  it('a first segment with no one to send to (all suppressed) is followed by the next before READY_TO_SEND', async () => {
    const { handle, c } = await start({ batches: 3, perBatch: 5, valid: 10 });
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', totals: { total: 15 } });
    expect(c.segments).toEqual([1, 2, 4]);
    expect(c.log.indexOf('status READY_TO_SEND')).toBeGreaterThan(c.log.indexOf('ingested 2 batches'));
    // The whole file suppressed still fails without READY_TO_SEND, after reading it all.
    const none = await start({ batches: 3, perBatch: 5, valid: 0 });
    expect(await none.handle.result()).toMatchObject({ status: 'FAILED', reason: 'every recipient is suppressed' });
    expect(none.c.segments).toEqual([1, 2, 4]);
    expect(none.c.statuses).toEqual(['PROCESSING', 'FAILED']);
  });

  it('a cancel while the file is still read stops the reading once the segment in flight is stored: the counts are the rows read', async () => {
    const { id, handle, c } = await start({ batches: 40, perBatch: 5, chunkMs: 100, ingestMs: 400 }, { maxConcurrentBatches: 1 });
    await reached(c, 'READY_TO_SEND');
    await waitFor('segment 2 reading', async () => (c.segments.length >= 2 ? true : undefined), 10_000);
    await handle.executeUpdate(cancelUpdate);
    const result = await handle.result();
    expect(result.status).toBe('CANCELLED');
    // Segments 1 and 2 were read (the second finished after the cancel); no third started.
    expect(c.segments).toEqual([1, 2]);
    expect(c.log).toContain('ingested 2 batches');
    const sent = [...c.sentByBatch.values()].reduce((a, b) => a + b, 0);
    expect(result.totals).toMatchObject({ total: 10, sent });
    expect(result.totals.sent + result.totals.cancelled).toBe(10);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'CANCELLED']);
    await recordHistory(client, transactionWorkflowId(id), 'pipelined-transaction-cancelled-while-reading');
  });

  it('a segment that fails for good fails the campaign; the batches sending are stopped and no batch starts after', async () => {
    const { handle, c } = await start({ batches: 12, perBatch: 20, chunkMs: 200, failSegment: 4 }, { maxConcurrentBatches: 1 });
    const result = await handle.result();
    expect(result).toMatchObject({
      status: 'FAILED',
      reason: 'reading the recipient file: InvalidRecipientFile: row 42 could not be read',
    });
    expect(c.segments).toEqual([1, 2, 4]);
    // Batch 1 (800 ms of chunks) was still sending when the segment failed: batch 2 never started.
    expect(c.log.some((l) => l.startsWith('chunk b00002'))).toBe(false);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'FAILED']);
  });
});

describe('status webhooks', () => {
  it('a campaign without a callback_url runs no webhook activity at all', async () => {
    const { id, handle, c } = await start({ batches: 2, perBatch: 5 }, {}, undefined, { noCallback: true });
    expect((await handle.result()).status).toBe('COMPLETED');
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
    expect(c.webhooks).toEqual([]);
    const history = await handle.fetchHistory();
    const activities = history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    expect(activities).not.toContain('deliverWebhook');
    await recordHistory(client, transactionWorkflowId(id), 'transaction-no-callback');
  });
});

describe('the proof pass before a batch reports sent', () => {
  it('sends what a chunk left unsettled, once per batch, before the recount', async () => {
    const { handle, c } = await start({ batches: 2, perBatch: 10, leaveUnsettled: { batchId: 'b00002', count: 3 } });
    const result = await handle.result();
    expect(result.status).toBe('COMPLETED');
    expect(result.totals).toMatchObject({ total: 20, sent: 20, pending: 0 });
    expect(c.log.filter((l) => l.startsWith('proof'))).toEqual(expect.arrayContaining(['proof b00001 0', 'proof b00002 3']));
    expect(c.log.filter((l) => l.startsWith('proof'))).toHaveLength(2);
    // The proof comes after the batch's last chunk and before its 'sent' tally.
    const order = c.log.filter((l) => l.includes('b00002'));
    expect(order.indexOf('proof b00002 3')).toBeGreaterThan(order.lastIndexOf('chunk b00002@5'));
    expect(order.indexOf('proof b00002 3')).toBeLessThan(order.indexOf('tally b00002 sent'));
  });
});

describe('failures', () => {
  it('an ingest failure ends FAILED with its reason; nothing is sent', async () => {
    const { handle, c } = await start({
      batches: 2,
      perBatch: 5,
      ingestError: { error: () => ApplicationFailure.nonRetryable('row 1 is not CSV', 'InvalidRecipientFile') },
    });
    expect(await handle.result()).toMatchObject({ status: 'FAILED', reason: 'InvalidRecipientFile: row 1 is not CSV' });
    expect(c.ingestAttempts).toBe(1);
    expect(c.chunks).toBe(0);
    expect(c.statuses).toEqual(['PROCESSING', 'FAILED']);
    expect(c.webhooks).toEqual(['ACCEPT', 'PROCESSING', 'FAILED']);
  });

  it('a transient ingest error is retried, and the campaign goes on', async () => {
    const { handle, c } = await start({ batches: 1, perBatch: 5, ingestError: { error: () => new Error('S3 hiccup'), attempts: [1] } });
    expect((await handle.result()).status).toBe('COMPLETED');
    expect(c.ingestAttempts).toBe(2);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });

  it('no valid row ends FAILED: an empty file, and a file whose every recipient is suppressed', async () => {
    const empty = await start({ batches: 0, perBatch: 5, totalMessages: 0 });
    const suppressed = await start({ batches: 1, perBatch: 5, valid: 0 });
    expect(await empty.handle.result()).toMatchObject({ status: 'FAILED', reason: 'the file has no valid recipient' });
    expect(await suppressed.handle.result()).toMatchObject({ status: 'FAILED', reason: 'every recipient is suppressed' });
    for (const { c } of [empty, suppressed]) {
      expect(c.statuses).toEqual(['PROCESSING', 'FAILED']);
      expect(c.chunks).toBe(0);
    }
  });

  it('an account-level send failure in one batch stops the others and fails the campaign', async () => {
    const { handle, c } = await start({ batches: 4, perBatch: 50, chunkMs: 100, failBatch: 'b00002' }, { maxConcurrentBatches: 2 });
    const result = await handle.result();
    expect(result.status).toBe('FAILED');
    expect(result.reason).toBe('batch 2: SesAccountError: sending paused for the account');
    // Batch 1 was told to stop; batches 3 and 4 never started.
    expect(c.log.some((l) => l.startsWith('chunk b00003') || l.startsWith('chunk b00004'))).toBe(false);
    expect(c.sentByBatch.get('b00001') ?? 0).toBeLessThan(50);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'FAILED']);
  });
});

describe('schedule and control', () => {
  it('cancel while scheduled ends CANCELLED with every message cancelled; what the state does not allow is refused', async () => {
    const sendAt = inFuture(3_600_000);
    const { handle, c } = await start({ batches: 3, perBatch: 10 }, {}, sendAt);
    await reached(c, 'SCHEDULED');
    expect(await handle.query(progressQuery)).toMatchObject({
      status: 'SCHEDULED',
      sendAt,
      paused: false,
      batchCount: 3,
      batchesStarted: 0,
    });
    expect(await refused(handle.executeUpdate(pauseUpdate))).toBe(true);
    expect(await refused(handle.executeUpdate(resumeUpdate))).toBe(true);
    expect(await refused(handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: 'someday' }] }))).toBe(true);
    const later = inFuture(7_200_000);
    expect(await handle.executeUpdate(rescheduleUpdate, { args: [{ sendAt: later }] })).toEqual({ status: 'SCHEDULED', sendAt: later });
    expect(await handle.executeUpdate(cancelUpdate)).toMatchObject({ status: 'SCHEDULED' });

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'CANCELLED', totals: { total: 30, sent: 0, cancelled: 30 } });
    expect(c.chunks).toBe(0);
    expect(c.statuses).toEqual(['PROCESSING', 'SCHEDULED', 'CANCELLED']);
    expect(c.reconciled).toEqual([{ phase: 'sent', totals: expect.objectContaining({ total: 30, cancelled: 30 }) }]);
  });

  it('send-now while scheduled sends at once', async () => {
    const { handle, c } = await start({ batches: 2, perBatch: 5 }, {}, inFuture(3_600_000));
    await reached(c, 'SCHEDULED');
    expect(await handle.executeUpdate(sendNowUpdate)).toMatchObject({ status: 'SCHEDULED' });
    expect((await handle.result()).status).toBe('COMPLETED');
    expect(c.statuses).toEqual(['PROCESSING', 'SCHEDULED', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });

  it('a send_at that passed while scheduling is sent at once with no SCHEDULED step', async () => {
    const { handle, c } = await start({ batches: 1, perBatch: 5 }, {}, new Date(Date.now() - 60_000).toISOString());
    expect((await handle.result()).status).toBe('COMPLETED');
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });

  it('pause holds the batches between chunks until resume; every message is sent once', async () => {
    const { handle, c } = await start({ batches: 2, perBatch: 20, chunkMs: 150 }, { maxConcurrentBatches: 2 });
    await waitFor('sending started', async () => (c.chunks >= 2 ? true : undefined), 10_000);
    expect(await handle.executeUpdate(pauseUpdate)).toMatchObject({ status: 'READY_TO_SEND' });
    await reached(c, 'PAUSED');
    await sleep(600); // the chunks in flight finish
    const during = c.chunks;
    await sleep(800);
    expect(c.chunks).toBe(during);
    expect(during).toBeLessThan(8);
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'PAUSED', paused: true });
    expect(await refused(handle.executeUpdate(sendNowUpdate))).toBe(true);
    expect(await handle.executeUpdate(resumeUpdate)).toMatchObject({ status: 'PAUSED' });

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { total: 40, sent: 40 } });
    expect(c.chunks).toBe(8);
    expect([...c.sentByBatch.values()]).toEqual([20, 20]);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'PAUSED', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });

  it('send lanes: a batch keeps that many chunks in flight over disjoint ranges, each message taken once; pause holds every lane', async () => {
    const { id, handle, c } = await start({ batches: 2, perBatch: 32, chunkMs: 150 }, { maxConcurrentBatches: 2, sendLanes: 3 });
    await waitFor('sending started', async () => (c.chunks >= 3 ? true : undefined), 10_000);
    expect(await handle.executeUpdate(pauseUpdate)).toMatchObject({ status: 'READY_TO_SEND' });
    await reached(c, 'PAUSED');
    await sleep(600); // the chunks in flight finish
    const during = c.chunks;
    await sleep(800);
    expect(c.chunks).toBe(during);
    expect(during).toBeLessThan(14);
    await handle.executeUpdate(resumeUpdate);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { total: 64, sent: 64 } });
    expect(c.maxInFlight).toBe(3);
    // 32 messages in chunks of 5: 7 chunks per batch, each message once.
    expect(c.chunks).toBe(14);
    for (const batch of ['b00001', 'b00002'])
      expect([...c.taken.get(batch)!].sort((x, y) => x - y)).toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect([...c.sentByBatch.values()]).toEqual([32, 32]);
    await recordHistory(client, batchWorkflowId(id, 1), 'batch-send-lanes');
  });

  it("one lane's account-level failure stops the other lanes: nothing starts after it, nothing is in flight at the recount", async () => {
    // Chunks of 5 over 40 messages, 3 lanes; the chunk at offset 5 (lane 2's first) fails for good.
    const { handle, c } = await start(
      { batches: 1, perBatch: 40, chunkMs: 300, failChunk: { batchId: 'b00001', offset: 5 } },
      { maxConcurrentBatches: 1, sendLanes: 3 },
    );
    const result = await handle.result();
    expect(result.status).toBe('FAILED');
    // The three first chunks started at once; the failing one ended at once, the two others were let finish.
    const chunks = c.log.filter((l) => l.startsWith('chunk ')).sort();
    expect(chunks).toEqual(['chunk b00001@0', 'chunk b00001@10', 'chunk b00001@5']);
    expect(c.inFlightAtTally.get('b00001')).toBe(0);
    expect(c.taken.get('b00001')).toHaveLength(10);
    expect(c.maxInFlight).toBe(2);
  });

  it('a throttled campaign keeps one chunk in flight per batch, lanes or not', async () => {
    // 600 a minute in chunks of 5: one chunk every 500 ms.
    const { handle, c } = await start({ batches: 1, perBatch: 15, chunkMs: 20 }, { maxConcurrentBatches: 1, sendLanes: 3 }, undefined, {
      throttle: { emails_per_minute: 600 },
    });
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', totals: { total: 15, sent: 15 } });
    expect(c.maxInFlight).toBe(1);
    expect(c.log).not.toContain('bounds b00001');
  });

  it('a pause that comes while a batch waits for its send window holds it when the window opens', async () => {
    // A window closed from T+2 s to T+5 s (open the rest of the day, as an overnight window):
    // the batch is sending at T, waits for the opening from T+2, is paused at T+3.
    const t0 = Date.now();
    const at = (ms: number) => new Date(t0 + ms).toISOString().slice(11, 19);
    const sendWindow: SendWindow = { timeZone: 'UTC', start: at(5_000), end: at(2_000) };
    const { id, handle, c } = await start({ batches: 1, perBatch: 300, chunkMs: 50 }, { maxConcurrentBatches: 1 }, undefined, {
      sendWindow,
    });
    await waitFor('sending started', async () => (c.chunks >= 1 ? true : undefined), 10_000);
    await sleep(t0 + 3_000 - Date.now());
    const beforePause = c.chunks;
    expect(beforePause).toBeLessThan(60); // the window closed mid-send
    expect(await handle.executeUpdate(pauseUpdate)).toMatchObject({ status: 'READY_TO_SEND' });
    await sleep(t0 + 7_000 - Date.now()); // the window has been open again for 2 s
    expect(c.chunks).toBe(beforePause);
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'PAUSED', paused: true });
    await handle.executeUpdate(resumeUpdate);
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', totals: { total: 300, sent: 300 } });
    expect(c.chunks).toBe(60);
    await recordHistory(client, batchWorkflowId(id, 1), 'batch-paused-in-window-wait');
  });

  it('cancel mid-send stops the batches, keeps what was sent, and the counts add up', async () => {
    const { handle, c } = await start({ batches: 4, perBatch: 20, chunkMs: 150 }, { maxConcurrentBatches: 2 });
    await waitFor('sending started', async () => (c.chunks >= 2 ? true : undefined), 10_000);
    await handle.executeUpdate(cancelUpdate);
    const result = await handle.result();
    const sent = [...c.sentByBatch.values()].reduce((a, b) => a + b, 0);
    expect(result.status).toBe('CANCELLED');
    expect(result.totals).toMatchObject({ total: 80, sent });
    expect(result.totals.sent + result.totals.cancelled).toBe(80);
    expect(sent).toBeLessThan(80);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'CANCELLED']);
  });
});

describe('outcomes', () => {
  it('a batch waits for its outcomes and is woken by the outcomes signal: SENT, then COMPLETED', async () => {
    // Polls and the deadline are far away: only the signal can end the wait within the test.
    const { id, handle, c } = await start(
      { batches: 2, perBatch: 5, holdOutcomes: true },
      { outcomePollMs: 120_000, finalStateDeadlineMs: 600_000 },
    );
    await reached(c, 'SENT');
    await sleep(300);
    expect(c.statuses.at(-1)).toBe('SENT');
    c.outcomesIn = true;
    for (const n of [1, 2]) await client.workflow.getHandle(batchWorkflowId(id, n)).signal(outcomesSignal);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { sent: 10, delivered: 10, pending: 0 } });
    expect(c.log.filter((l) => l.startsWith('tally b00001'))).toEqual(['tally b00001 sent', 'tally b00001 outcomes']);
    expect(c.statuses).toEqual(['PROCESSING', 'READY_TO_SEND', 'SENT', 'COMPLETED']);
  });

  it('a batch whose outcomes never come completes at the final-state deadline, polling on the way', async () => {
    const { handle, c } = await start({ batches: 1, perBatch: 5, holdOutcomes: true }, { outcomePollMs: 300, finalStateDeadlineMs: 1_000 });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'COMPLETED', totals: { sent: 5, pending: 5 } });
    const tallies = c.log.filter((l) => l.startsWith('tally'));
    expect(tallies[0]).toBe('tally b00001 sent');
    expect(tallies.at(-1)).toBe('tally b00001 completed');
    expect(tallies.filter((l) => l.endsWith('outcomes')).length).toBeGreaterThanOrEqual(1);
    expect(c.log.indexOf('status SENT')).toBeLessThan(c.log.indexOf('tally b00001 completed'));
  });
});
