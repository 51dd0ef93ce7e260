// sendBatchChunk against DynamoDB Local, s3rver and the SES v2 emulator: chunked sends with
// cursors, message status history, the mail itself, retries, suppression and render failures.
import { afterAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import type { Cursor } from '../../src/ports';
import { header, sesInbox } from '../support/harness';
import { allMessages, campaign, expectFailure, runActivity, setupDeps, suppress, TENANTS, transaction, uid } from './fixtures';

const { config, deps, activities, close } = setupDeps();
afterAll(() => close());

const runId = `run-${uid()}`;
const infoFor = (activityId: string, attempt = 1): Partial<Info> => ({
  activityId,
  attempt,
  workflowExecution: { workflowId: `wf-${activityId}`, runId },
});

type Input = Parameters<typeof activities.sendBatchChunk>[0];

/** Sends a batch chunk by chunk as the batch workflow does; returns the totals and chunk count. */
async function sendBatch(input: Omit<Input, 'cursor'>, attempt = 1) {
  const totals = { sent: 0, failed: 0, suppressed: 0, skipped: 0, deferred: 0 };
  let cursor: Cursor | undefined;
  let chunks = 0;
  do {
    const { result } = await runActivity(activities.sendBatchChunk, [{ ...input, cursor }], infoFor(`${input.batchId}-${chunks}`, attempt));
    for (const k of ['sent', 'failed', 'suppressed', 'skipped', 'deferred'] as const) totals[k] += result[k];
    cursor = result.nextCursor;
    chunks += 1;
  } while (cursor && chunks < 50);
  return { totals, chunks };
}

/** Ingests `csv` (batches of 5) and returns what sendBatchChunk needs. */
async function ingested(csv: string, template?: Parameters<typeof campaign>[2]) {
  const c = await campaign(deps, csv, template);
  const { result } = await runActivity(activities.ingestRecipients, [c.input]);
  const base = { transactionId: c.txn.transaction_id, tenantId: TENANTS.a.tenantId, templateId: c.templateId, sendingGraceMs: 60_000 };
  return { ...c, ingest: result, base };
}

const mailsFor = async (transactionId: string) => (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

describe('sendBatchChunk', () => {
  it('sends every message once, chunk by chunk, personalised and HTML-escaped, with exact counters', async () => {
    const id = uid();
    const people = ['Ann', '<b>Bold</b>', 'Chloé', 'Dan', 'Eve', 'Fay', 'Gus'].map((name, i) => ({
      name,
      email: `p${i}-${id}@example.com`,
    }));
    const csv = ['email,first_name', ...people.map((p) => `${p.email},${p.name}`)].join('\n');
    const { txn, base } = await ingested(csv, {
      subject: 'Hello {{ first_name }}',
      html: '<p>Hi {{ first_name }}</p><p>{{ email }}|{{ message_id }}|{{ transaction_id }}</p>',
      text: 'Hi {{ first_name }}',
    });

    const b1 = await sendBatch({ ...base, batchId: 'b00001', limit: 2 });
    const b2 = await sendBatch({ ...base, batchId: 'b00002', limit: 2 });
    expect(b1.totals).toEqual({ sent: 5, failed: 0, suppressed: 0, skipped: 0, deferred: 0 });
    expect(b2.totals).toEqual({ sent: 2, failed: 0, suppressed: 0, skipped: 0, deferred: 0 });
    expect(b1.chunks).toBeGreaterThanOrEqual(3);

    const messages = await allMessages(deps, txn.transaction_id);
    const mails = await mailsFor(txn.transaction_id);
    expect(mails).toHaveLength(7);
    const byRecipient = new Map(mails.map((m) => [m.destination.to[0], m]));
    expect(byRecipient.size).toBe(7);
    for (const m of messages) {
      expect(m.status).toBe('SENT');
      expect(m.status_history.map((h) => h.status)).toEqual(['CREATED', 'SENDING', 'SENT']);
      expect(m.ses_message_id).toBeTruthy();
      expect(Number.isNaN(Date.parse(m.sent_time ?? ''))).toBe(false);
      expect(m.attempt_token).toMatch(new RegExp(`^${runId}:${m.batch_id}-\\d+:1$`));
      const mail = byRecipient.get(m.recipient_email)!;
      expect(mail).toBeDefined();
      expect(mail.messageId).toBe(m.ses_message_id);
      expect(mail.from).toBe('sender@example.com');
      expect(header(mail, 'X-Batch-Id')).toBe(m.batch_id);
      expect(header(mail, 'X-Message-Id')).toBe(m.message_id);
      expect(mail.body.html).toContain(`<p>${m.recipient_email}|${m.message_id}|${txn.transaction_id}</p>`);
    }
    const bold = byRecipient.get(people[1]!.email)!;
    expect(bold.subject).toBe('Hello <b>Bold</b>');
    expect(bold.body.html).toContain('<p>Hi &lt;b&gt;Bold&lt;/b&gt;</p>');
    expect(bold.body.text).toBe('Hi <b>Bold</b>');
    expect(byRecipient.get(people[2]!.email)!.subject).toBe('Hello Chloé');
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ sent: 7, failed: 0, suppressed: 0 });

    // A retry of every chunk (new attempt number, so a new token) sends nothing again.
    const again = await sendBatch({ ...base, batchId: 'b00001', limit: 2 }, 2);
    expect(again.totals).toEqual({ sent: 0, failed: 0, suppressed: 0, skipped: 5, deferred: 0 });
    expect(await mailsFor(txn.transaction_id)).toHaveLength(7);
    expect((await transaction(deps, txn.transaction_id)).counts.sent).toBe(7);
    const after = await allMessages(deps, txn.transaction_id);
    expect(after.map((m) => m.status_history.length)).toEqual(messages.map(() => 3));
  });

  it('defers a message another attempt left SENDING within the grace period, and resends it once after', async () => {
    const id = uid();
    const { txn, base } = await ingested(`email\na-${id}@example.com\nb-${id}@example.com\n`);
    const [first] = await allMessages(deps, txn.transaction_id);
    const dead = 'dead-run:b00001-0:1';
    expect(await deps.messages.transitionMessage(first!, 'SENDING', { from: ['CREATED'], set: { attempt_token: dead } })).toBe(true);

    // Just left SENDING: SES may have it (its Send event would settle that), so not yet.
    const early = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 10 }], infoFor('b00001-0', 2));
    expect(early.result).toMatchObject({ sent: 1, deferred: 1, skipped: 0 });
    expect(await mailsFor(txn.transaction_id)).toHaveLength(1);
    expect((await allMessages(deps, txn.transaction_id))[0]!.status).toBe('SENDING');

    // Past the grace period: sent again, once, under the new attempt's token.
    const late = await runActivity(
      activities.sendBatchChunk,
      [{ ...base, sendingGraceMs: 0, batchId: 'b00001', limit: 10 }],
      infoFor('b00001-0', 3),
    );
    expect(late.result).toMatchObject({ sent: 1, deferred: 0, skipped: 1 });
    const [resent] = await allMessages(deps, txn.transaction_id);
    expect(resent!.status_history.map((h) => h.status)).toEqual(['CREATED', 'SENDING', 'SENDING', 'SENT']);
    expect(resent!.attempt_token).toBe(`${runId}:b00001-0:3`);
    const mails = await mailsFor(txn.transaction_id);
    expect(mails.map((m) => m.destination.to[0]).sort()).toEqual([`a-${id}@example.com`, `b-${id}@example.com`]);
  });

  it('marks an address suppressed after ingest as SUPPRESSED and does not mail it', async () => {
    const id = uid();
    const late = `late-${id}@example.com`;
    const { txn, base } = await ingested(`email\na-${id}@example.com\n${late}\nc-${id}@example.com\n`);
    await suppress(deps, late);

    const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 10 }], infoFor('b00001-0'));

    expect(result).toMatchObject({ sent: 2, suppressed: 1, failed: 0 });
    const messages = await allMessages(deps, txn.transaction_id);
    const blocked = messages.find((m) => m.recipient_email === late)!;
    expect(blocked.status).toBe('SUPPRESSED');
    expect(blocked.status_history.at(-1)!.metadata).toEqual({ reason: 'on_suppression_list', checked: 'before_send' });
    expect(blocked.ses_message_id).toBeUndefined();
    const mails = await mailsFor(txn.transaction_id);
    expect(mails.map((m) => m.destination.to[0])).not.toContain(late);
    expect(mails).toHaveLength(2);
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ sent: 2, suppressed: 1 });
  });

  it('fails only the message whose rendering fails, with the reason, and sends the others', async () => {
    const id = uid();
    const { txn, base, ingest } = await ingested(
      `email,first_name\na-${id}@example.com,Ann\nb-${id}@example.com,Broken\nc-${id}@example.com,Cy\n`,
      {
        subject: 'Hi {{ first_name }}',
        html: '<p>{% if first_name == "Broken" %}{{ missing_var }}{% endif %}Hi {{ first_name }}</p>',
        placeholders: [], // as if confirmed without the conditional variable: ingest accepts every row
      },
    );
    expect(ingest.valid).toBe(3);

    const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 10 }], infoFor('b00001-0'));

    expect(result).toMatchObject({ sent: 2, failed: 1 });
    const messages = await allMessages(deps, txn.transaction_id);
    const broken = messages.find((m) => m.recipient_email === `b-${id}@example.com`)!;
    expect(broken.status).toBe('FAILED');
    expect(broken.failure_reason).toContain('missing_var');
    expect(broken.status_history.map((h) => h.status)).toEqual(['CREATED', 'SENDING', 'FAILED']);
    expect(broken.status_history.at(-1)!.metadata).toMatchObject({ code: 'UNDEFINED_VARIABLE' });
    expect(messages.filter((m) => m.status === 'SENT')).toHaveLength(2);
    expect((await mailsFor(txn.transaction_id)).map((m) => m.destination.to[0]).sort()).toEqual([
      `a-${id}@example.com`,
      `c-${id}@example.com`,
    ]);
    expect((await transaction(deps, txn.transaction_id)).counts).toMatchObject({ sent: 2, failed: 1 });
  });

  it('renders the reserved {{ unsubscribe_url }} placeholder that ingest lets through', async () => {
    const id = uid();
    const { txn, base, ingest } = await ingested(`email\nu-${id}@example.com\n`, {
      subject: 'News',
      html: '<p>News</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
    });
    expect(ingest.valid).toBe(1); // the CSV need not (and cannot usefully) supply it

    const { result } = await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 10 }], infoFor('b00001-0'));

    const [message] = await allMessages(deps, txn.transaction_id);
    expect(message!.failure_reason).toBeUndefined();
    expect(message!.status).toBe('SENT');
    expect(result).toMatchObject({ sent: 1, failed: 0 });
    // The link in the body is the one-click List-Unsubscribe link (RFC 8058), on the public base URL.
    const [mail] = await mailsFor(txn.transaction_id);
    const link = /^<(.+)>$/.exec(header(mail!, 'List-Unsubscribe') ?? '')?.[1];
    expect(link?.startsWith(`${deps.settings.publicBaseUrl.replace(/\/$/, '')}/u/`)).toBe(true);
    expect(header(mail!, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(mail!.body.html).toContain(`<a href="${link}">Unsubscribe</a>`);
  });

  it('cuts a chunk to a second of mail and spreads it over that second when the send rate was lowered below the one it was sized for', async () => {
    // SES MaxSendRate under SEND_RATE_PER_SECOND: the worker paces a chunk's messages (4 a second
    // here) instead of sending the API-sized chunk (5, a batch) in one burst at its full concurrency.
    const id = uid();
    const { txn, base } = await ingested(['email', ...Array.from({ length: 5 }, (_, i) => `pace${i}-${id}@example.com`)].join('\n'));
    deps.settings.paceMessagesPerSecond = 4;
    let first;
    try {
      first = (await runActivity(activities.sendBatchChunk, [{ ...base, batchId: 'b00001', limit: 5 }], infoFor('pace-0'))).result;
      const rest = await sendBatch({ ...base, batchId: 'b00001', limit: 5 });
      expect(first.sent + rest.totals.sent).toBe(5);
    } finally {
      delete deps.settings.paceMessagesPerSecond;
    }
    // The first chunk held 4 (a second at 4 a second), not the 5 asked for.
    expect(first.sent).toBe(4);
    const times = (await allMessages(deps, txn.transaction_id)).map((m) => Date.parse(m.sent_time!)).sort((a, b) => a - b);
    // Its four starts a quarter second apart: at least 0.7 s from its first to its last.
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(700);
  });

  it("refuses another tenant's template as TemplateNotReady (non-retryable)", async () => {
    const id = uid();
    const { base } = await ingested(`email\nx-${id}@example.com\n`);
    const failure = await expectFailure(
      activities.sendBatchChunk,
      [{ ...base, tenantId: TENANTS.b.tenantId, batchId: 'b00001', limit: 10 }],
      infoFor('b00001-0'),
    );
    expect(failure.type).toBe('TemplateNotReady');
    expect(failure.nonRetryable).toBe(true);
  });
});
