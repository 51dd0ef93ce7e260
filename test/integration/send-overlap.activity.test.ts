// Overlapping attempts of one send chunk, against DynamoDB Local (the real conditional writes)
// with SES as a controllable stand-in behind the messenger port: a call can be held open, made
// to accept and then hang, or throttled. Each test is one interleaving the review of the send
// path found to lose a recipient or mail one twice (issue 13, items 1 to 3).
import { afterAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createActivities } from '../../activities';
import type { Messenger, OutgoingEmail } from '../../src/adapters/ses';
import { SendError } from '../../src/adapters/ses';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { keys } from '../../src/adapters/dynamo/keys';
import type { SendChunkInput, SendChunkResult } from '../../activities/send.activities';
import { allMessages, campaign, runActivity, runAttempt, setupDeps, TENANTS, uid } from './fixtures';

const { config, deps, activities, close } = setupDeps();
const aws = createAwsClients(config);
afterAll(() => {
  destroyAwsClients(aws);
  close();
});

/** The batch workflow's heartbeat timeout for a send chunk: Temporal starts a retry this long after the last heartbeat. */
const HEARTBEAT_TIMEOUT_MS = 30_000;
/** The grace the workflow passes to a chunk, from the configuration (SENDING_GRACE_SECONDS). */
const GRACE_MS = config.SENDING_GRACE_SECONDS * 1000;

const info = (attempt: number, runId: string): Partial<Info> => ({
  activityId: 'b00001-0',
  attempt,
  workflowExecution: { workflowId: 'wf-send-overlap', runId },
});

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** SES as a stand-in: every accepted message is recorded; `before`/`after` hooks shape each call. */
function standInSes() {
  const accepted: { to: string; id: string }[] = [];
  const make = (
    hooks: { before?: (email: OutgoingEmail) => Promise<void> | void; after?: (email: OutgoingEmail) => Promise<void> | void } = {},
  ): Messenger => ({
    async send(email) {
      await hooks.before?.(email);
      const id = `ses-${uid()}`;
      accepted.push({ to: email.to, id });
      await hooks.after?.(email);
      return { messageId: id };
    },
  });
  return { accepted, make };
}

async function oneRecipient() {
  const email = `overlap-${uid()}@example.com`;
  const c = await campaign(deps, `email\n${email}\n`);
  await runActivity(activities.ingestRecipients, [{ ...c.input, batchSize: 100 }]);
  const input: SendChunkInput = {
    transactionId: c.txn.transaction_id,
    tenantId: TENANTS.a.tenantId,
    templateId: c.templateId,
    batchId: 'b00001',
    limit: 100,
    sendingGraceMs: GRACE_MS,
  };
  return { email, input, txnId: c.txn.transaction_id };
}

/** Moves a message's last change back in time, as if `ms` had passed since it was written. */
async function age(transactionId: string, ms: number) {
  for (const m of await allMessages(deps, transactionId)) {
    await aws.doc.send(
      new UpdateCommand({
        TableName: config.DYNAMODB_TABLE,
        Key: keys.message(transactionId, m.batch_id, m.message_id),
        UpdateExpression: 'SET updated_at = :t',
        ExpressionAttributeValues: { ':t': new Date(Date.parse(m.updated_at) - ms).toISOString() },
      }),
    );
  }
}

/**
 * What the batch workflow does with a chunk's result: run the same chunk again while anything
 * was deferred. Returns the results; afterwards every message must be SENT or final.
 */
async function batchLoop(run: () => Promise<SendChunkResult>, maxRuns = 5): Promise<SendChunkResult[]> {
  const results: SendChunkResult[] = [];
  for (let i = 0; i < maxRuns; i += 1) {
    const result = await run();
    results.push(result);
    if (result.deferred === 0) break;
  }
  return results;
}

describe('overlapping attempts of one send chunk', () => {
  it('item 1: a message another live attempt holds is deferred, never skipped, so it is not lost when that attempt is throttled', async () => {
    const { email, input, txnId } = await oneRecipient();
    const ses = standInSes();
    const runId = `run-${uid()}`;

    // B reads its page first and is held; A marks the message SENDING and waits inside SES.
    const bRead = deferred();
    const bGo = deferred();
    const aInSes = deferred();
    const aThrottle = deferred();
    const messagesHeldAfterRead: typeof deps.messages = Object.assign(Object.create(deps.messages) as typeof deps.messages, {
      pageMessages: async (...args: Parameters<typeof deps.messages.pageMessages>) => {
        const page = await deps.messages.pageMessages(...args);
        bRead.resolve();
        await bGo.promise;
        return page;
      },
    });
    const attemptB = createActivities({ ...deps, messages: messagesHeldAfterRead, messenger: ses.make() });
    const attemptA = createActivities({
      ...deps,
      messenger: ses.make({
        before: async () => {
          aInSes.resolve();
          await aThrottle.promise;
          throw new SendError('throttled', 'TooManyRequestsException', 'Maximum sending rate exceeded.');
        },
      }),
    });

    // Temporal started B (attempt 2) because A (attempt 1) missed its heartbeat; A still runs.
    const b = runAttempt(attemptB.sendBatchChunk, [input], info(2, runId));
    await bRead.promise;
    const a = runAttempt(attemptA.sendBatchChunk, [input], info(1, runId));
    await aInSes.promise;
    bGo.resolve();
    const bResult = await b;
    expect(bResult.error).toBeUndefined();
    aThrottle.resolve();
    const aResult = await a;
    expect(aResult.error).toMatchObject({ type: 'SesThrottled' });

    // The batch runs the chunk again while something was deferred (a later attempt: 3, 4, ...).
    let attempt = 3;
    const later = createActivities({ ...deps, messenger: ses.make() });
    const results = [
      bResult.result!,
      ...(bResult.result!.deferred > 0
        ? await batchLoop(
            async () => (await runActivity(later.sendBatchChunk, [{ ...input, sendingGraceMs: 0 }], info(attempt++, runId))).result,
          )
        : []),
    ];

    const [message] = await allMessages(deps, txnId);
    expect(message!.status, `results ${JSON.stringify(results)}`).toBe('SENT');
    expect(ses.accepted.map((a) => a.to)).toEqual([email]);
  });

  it('item 2: an SES call that hangs past the heartbeat timeout is not sent again by the retry while it may still be accepted', async () => {
    const { email, input, txnId } = await oneRecipient();
    const ses = standInSes();
    const runId = `run-${uid()}`;
    const aInSes = deferred();
    const aRelease = deferred();
    const attemptA = createActivities({
      ...deps,
      messenger: ses.make({
        before: async () => {
          aInSes.resolve();
          await aRelease.promise; // the connection hangs, then SES takes the message after all
        },
      }),
    });
    const a = runAttempt(attemptA.sendBatchChunk, [input], info(1, runId));
    await aInSes.promise;

    // Temporal gives up on A after the heartbeat timeout and starts B.
    await age(txnId, HEARTBEAT_TIMEOUT_MS);
    const attemptB = createActivities({ ...deps, messenger: ses.make() });
    const b = await runAttempt(attemptB.sendBatchChunk, [input], info(2, runId));
    aRelease.resolve();
    await a;

    expect(
      ses.accepted.map((x) => x.to),
      `B returned ${JSON.stringify(b.result ?? b.error)}`,
    ).toEqual([email]);
  });

  it('item 3: after a crash between SES accepting and SENT being written, the retry waits for the Send event instead of mailing again', async () => {
    const { email, input, txnId } = await oneRecipient();
    const ses = standInSes();
    const runId = `run-${uid()}`;
    // A: SES accepts, then the worker dies before SENT is written.
    const attemptA = createActivities({
      ...deps,
      messenger: ses.make({
        after: () => {
          throw new Error('worker process killed');
        },
      }),
    });
    const a = await runAttempt(attemptA.sendBatchChunk, [input], info(1, runId));
    expect(a.error).toBeDefined();

    // The retry starts once Temporal notices (heartbeat timeout) plus its first backoff; the
    // Send event is held up meanwhile (API and workers restarted together, SNS backing off).
    await age(txnId, HEARTBEAT_TIMEOUT_MS + 2_000);
    const attemptB = createActivities({ ...deps, messenger: ses.make() });
    const b = await runAttempt(attemptB.sendBatchChunk, [input], info(2, runId));

    expect(
      ses.accepted.map((x) => x.to),
      `B returned ${JSON.stringify(b.result ?? b.error)}`,
    ).toEqual([email]);
  });

  it('without Send events (the worker found none published), a message left SENDING waits the longer grace, whatever the campaign says', async () => {
    const { email, input, txnId } = await oneRecipient();
    const ses = standInSes();
    const runId = `run-${uid()}`;
    const crashAfterAccept = createActivities({
      ...deps,
      messenger: ses.make({
        after: () => {
          throw new Error('worker process killed');
        },
      }),
    });
    await runAttempt(crashAfterAccept.sendBatchChunk, [input], info(1, runId));
    await age(txnId, 10 * 60_000);
    const floor = { ...deps.settings, minSendingGraceMs: 3_600_000 };
    const held = createActivities({ ...deps, messenger: ses.make(), settings: floor });
    const b = await runActivity(held.sendBatchChunk, [{ ...input, sendingGraceMs: 60_000 }], info(2, runId));
    expect(b.result).toMatchObject({ sent: 0, deferred: 1 });
    expect(ses.accepted.map((x) => x.to)).toEqual([email]);
    // Past the longer grace too, with still no Send event, the grace rule allows the resend.
    await age(txnId, 3_600_000);
    const c = await runActivity(held.sendBatchChunk, [{ ...input, sendingGraceMs: 60_000 }], info(3, runId));
    expect(c.result).toMatchObject({ sent: 1, deferred: 0 });
  });
});
