// Replays every committed history against today's workflow code: a non-deterministic change
// to a workflow that campaigns in flight depend on fails here, not in production.
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Worker } from '@temporalio/worker';
import { committedHistories } from '../support/histories';
import {
  PAUSE_AFTER_WINDOW,
  PROVE_BATCH_SENT,
  RECIPIENT_LOCAL_TIME,
  SEND_LANES,
  RESUME_ENDS_GRACE,
  SEND_WINDOWS,
  SOFT_BOUNCE_RETRIES,
  UI_SUMMARIES,
} from '../../workflows/batch.workflow';
import { CAMPAIGN_PHASES, NO_CALLBACK_NO_WEBHOOK, PIPELINED_INGEST } from '../../workflows/transaction.workflow';

describe('replay of recorded histories', () => {
  const histories = committedHistories();

  it('has recorded histories to replay', () => {
    expect(histories.map((h) => h.workflowId)).toEqual(
      expect.arrayContaining(['transaction-sent', 'batch-sent', 'transaction-failed-no-valid-row', 'transaction-scheduled']),
    );
  });

  it('holds both sides of every patch: histories recorded before it and histories with its marker', () => {
    const patchesIn = (history: (typeof histories)[number]['history']) =>
      (history.events ?? []).flatMap((e) => {
        const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
        return data ? [JSON.parse(Buffer.from(data).toString('utf8')).id as string] : [];
      });
    const typeOf = (history: (typeof histories)[number]['history']) =>
      history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
    for (const [patch, workflowType] of [
      [CAMPAIGN_PHASES, 'transactionWorkflow'],
      [PROVE_BATCH_SENT, 'batchWorkflow'],
      [UI_SUMMARIES, 'transactionWorkflow'],
      [UI_SUMMARIES, 'batchWorkflow'],
      [RESUME_ENDS_GRACE, 'batchWorkflow'],
      [SOFT_BOUNCE_RETRIES, 'batchWorkflow'],
      [SEND_WINDOWS, 'batchWorkflow'],
      [PAUSE_AFTER_WINDOW, 'batchWorkflow'],
      [NO_CALLBACK_NO_WEBHOOK, 'transactionWorkflow'],
      [PIPELINED_INGEST, 'transactionWorkflow'],
      [RECIPIENT_LOCAL_TIME, 'batchWorkflow'],
      [RECIPIENT_LOCAL_TIME, 'transactionWorkflow'],
      [SEND_LANES, 'batchWorkflow'],
    ] as const) {
      const ofType = histories.filter((h) => typeOf(h.history) === workflowType);
      const withIt = ofType.filter((h) => patchesIn(h.history).includes(patch)).map((h) => h.workflowId);
      const without = ofType.filter((h) => !patchesIn(h.history).includes(patch)).map((h) => h.workflowId);
      expect(withIt.length, `${workflowType} histories with the ${patch} marker`).toBeGreaterThan(0);
      expect(without.length, `${workflowType} histories from before ${patch}`).toBeGreaterThan(0);
    }
  });

  it('replays each of them without a determinism error', async () => {
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundlePath') } }, histories)) {
      results.push({ id: result.workflowId, error: result.error ? String(result.error) : undefined });
    }
    expect(results).toHaveLength(histories.length);
    expect(results.filter((r) => r.error)).toEqual([]);
  });
});
