// Replays every committed history against today's workflow code: a non-deterministic change
// to a workflow that campaigns in flight depend on fails here, not in production.
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { Worker } from '@temporalio/worker';
import { committedHistories } from '../support/histories';

describe('replay of recorded histories', () => {
  const histories = committedHistories();

  it('has recorded histories to replay', () => {
    expect(histories.map((h) => h.workflowId)).toEqual(
      expect.arrayContaining(['transaction-sent', 'batch-sent', 'transaction-failed-no-valid-row', 'transaction-scheduled']),
    );
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
