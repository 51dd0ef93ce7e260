// Issue 17, item 1 against DynamoDB Local: the event log of event webhooks. An event is logged
// only for a tenant with an enabled endpoint that wants it (its endpoint list read once per cache
// period, not per event); a log write that fails fails the event, and SNS's redelivery (a
// "duplicate" to the message) writes the entry it missed, once, however often it comes again.
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { cursorAt, EventWebhookTable, type LoggedEvent } from '../../src/adapters/dynamo/event-webhooks';
import type { MessageEvent } from '../../src/domain/event-webhooks';
import type { SesEvent } from '../../src/domain/ses-event';
import { EventLog } from '../../src/events/event-log';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { createLogger } from '../../src/logging';
import { allMessages, campaign, runActivity, setupDeps, uid } from './fixtures';

const { config, deps, doc: realDoc, activities, close } = setupDeps();
afterAll(() => close());
const log = createLogger({}, 'error', () => undefined);
const table = deps.eventWebhooks as EventWebhookTable;

async function sentMessages(n: number) {
  const id = uid();
  const rows = Array.from({ length: n }, (_, i) => `r${i + 1}-${id}@example.com`);
  const { txn, input } = await campaign(deps, `email\n${rows.join('\n')}\n`);
  await runActivity(activities.ingestRecipients, [{ ...input, batchSize: 50 }]);
  for (const m of await allMessages(deps, txn.transaction_id)) {
    await deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED'], set: { attempt_token: 't' } });
    await deps.messages.transitionMessage(m, 'SENT', {
      from: ['SENDING'],
      token: 't',
      set: { ses_message_id: `ses-${m.message_id}-${id}` },
    });
  }
  return { tenantId: txn.tenant_id, transactionId: txn.transaction_id, messages: await allMessages(deps, txn.transaction_id) };
}

const delivery = (m: MessageRecord, at: string): SesEvent => ({
  eventType: 'Delivery',
  mail: { messageId: m.ses_message_id!, tags: { transaction_id: [m.transaction_id], batch_id: [m.batch_id], message_id: [m.message_id] } },
  delivery: { timestamp: at },
});

/** The event log over the real table, counting endpoint reads, whose appends fail while `failing` says so. */
function eventLogWith(failing: { next: number }) {
  const reads = { n: 0 };
  const eventLog = new EventLog(
    {
      listEndpoints: (tenantId) => {
        reads.n++;
        return table.listEndpoints(tenantId);
      },
      appendEvent: async (event, days) => {
        if (failing.next > 0) {
          failing.next--;
          throw new Error('log write lost');
        }
        return table.appendEvent(event, days);
      },
    },
    log,
    { retentionDays: 7, endpointCacheMs: 60_000 },
  );
  const process = createSesEventProcessor({
    messages: deps.messages,
    batches: deps.batches,
    suppressions: deps.suppressions,
    log,
    onOutcome: () => undefined,
    eventLog,
  });
  return { process, reads };
}

const logged = async (tenantId: string, since: string) =>
  table.readLog(tenantId, cursorAt(since), new Date(Date.now() + 1000).toISOString(), 1000);

describe('event log', () => {
  it('costs a tenant without endpoints one cached read, and logs nothing', async () => {
    const since = new Date().toISOString();
    const { tenantId, messages } = await sentMessages(5);
    const { process, reads } = eventLogWith({ next: 0 });
    for (const m of messages) expect(await process(delivery(m, new Date().toISOString()))).toBe('applied');
    expect(reads.n).toBe(1);
    expect(await logged(tenantId, since)).toEqual([]);
  });

  it('writes the entry a failed write missed on redelivery, and never twice', async () => {
    const since = new Date().toISOString();
    const { tenantId, transactionId, messages } = await sentMessages(3);
    const endpointId = uid();
    await table.createEndpoint({
      tenant_id: tenantId,
      endpoint_id: endpointId,
      url: 'https://example.com/hook',
      event_types: ['delivered'],
      campaign_id: transactionId,
      status: 'enabled',
      secret: generateWebhookSecret(),
      created_at: since,
      updated_at: since,
      cursor: cursorAt(since),
    });
    try {
      const failing = { next: 1 };
      const { process } = eventLogWith(failing);
      const [first, ...rest] = messages;
      const event = delivery(first!, new Date().toISOString());
      // Applied to the message, then the log write fails: the request fails, SNS delivers it again.
      await expect(process(event)).rejects.toThrow('log write lost');
      expect(await logged(tenantId, since)).toEqual([]);
      expect(await process(event)).toBe('duplicate');
      expect(await process(event)).toBe('duplicate');
      for (const m of rest) await process(delivery(m, new Date().toISOString()));
      // Another delivery event of the same message (a later time) is no new event: the message took the first.
      await process(delivery(first!, new Date(Date.now() + 5000).toISOString()));
      const entries = await logged(tenantId, since);
      expect(entries.map((e) => e.event.message_id).sort()).toEqual(messages.map((m) => m.message_id).sort());
      expect(new Set(entries.map((e) => e.event.id)).size).toBe(3);
      expect(entries[0]!.event).toMatchObject({ type: 'delivered', transaction_id: transactionId, email: first!.recipient_email });
    } finally {
      await table.deleteEndpoint(tenantId, endpointId);
    }
  });
});

/**
 * Issue 17, item 1, from the review: delivery reads the log LAG_MS behind now and moves its cursor
 * to the last entry it read, so an entry committed later than LAG_MS after the time in its key is
 * passed for good once a later one was read. Here DynamoDB Local sits behind a fault hook: how each
 * append attempt of the slow event is treated (held and committed late, answered never), while
 * another event is logged at once and a reader runs as delivery does. Before the fix the slow
 * event's key kept the first attempt's time and live delivery never sent it.
 */
describe('event log: an append whose commit is late', () => {
  const LAG_MS = 2000;
  type Fault = { commitAfterMs?: number } | 'hang' | 'pass';
  /** The table over DynamoDB Local, each transaction (an append attempt) treated as `faults` says in turn. */
  function faultyTable(faults: Fault[]) {
    let call = 0;
    const doc = {
      send: (command: unknown, opts?: { abortSignal?: AbortSignal }) => {
        if (!(command instanceof TransactWriteCommand)) return realDoc.send(command as never);
        const fault = faults[call++] ?? 'pass';
        if (fault === 'pass') return realDoc.send(command);
        if (fault !== 'hang') setTimeout(() => void realDoc.send(command).catch(() => undefined), fault.commitAfterMs);
        // The answer never comes: the attempt ends at its abort (or the SDK's request timeout); a held commit lands later anyway.
        return new Promise((_, reject) => {
          const fail = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
          if (opts?.abortSignal) opts.abortSignal.addEventListener('abort', fail);
          else setTimeout(fail, 5000);
        });
      },
    } as unknown as DynamoDBDocumentClient;
    return new EventWebhookTable(doc, config.DYNAMODB_TABLE);
  }
  const eventOf = (tenantId: string, n: string): MessageEvent => ({
    id: `late-${n}-${uid()}`,
    type: 'delivered',
    occurred_at: new Date().toISOString(),
    tenant_id: tenantId,
    transaction_id: 't',
    batch_id: 'b00001',
    message_id: n,
    email: `${n}@example.com`,
    data: {},
  });
  /** A reader as live delivery: every 100 ms the entries after its cursor up to LAG_MS ago; the cursor moves to the last. */
  function reader(tenantId: string) {
    const seen: LoggedEvent[] = [];
    let cursor = cursorAt(new Date().toISOString());
    let stop = false;
    const running = (async () => {
      while (!stop) {
        const entries = await table.readLog(tenantId, cursor, new Date(Date.now() - LAG_MS).toISOString(), 100);
        seen.push(...entries);
        if (entries.length > 0) cursor = entries.at(-1)!.sk;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return {
      seen,
      stop: async () => {
        stop = true;
        await running;
      },
    };
  }
  async function run(faults: Fault[]) {
    const tenantId = `late-${uid()}`;
    const r = reader(tenantId);
    const slow = eventOf(tenantId, 'slow');
    const prompt = eventOf(tenantId, 'prompt');
    const appending = faultyTable(faults).appendEvent(slow, 1, { lagMs: LAG_MS });
    await new Promise((res) => setTimeout(res, 300));
    expect(await table.appendEvent(prompt, 1, { lagMs: LAG_MS })).toBe(true);
    // A failed append fails the SES event request, and SNS delivers the event again.
    await appending.catch(() => table.appendEvent(slow, 1, { lagMs: LAG_MS }));
    // Long enough for the reader to reach whatever the slow append left behind.
    await new Promise((res) => setTimeout(res, LAG_MS + 2000));
    await r.stop();
    const all = await table.readLog(tenantId, cursorAt(new Date(Date.now() - 60_000).toISOString()), new Date().toISOString(), 100);
    return { seen: r.seen.map((e) => e.event.message_id), logged: all.map((e) => e.event.message_id) };
  }

  it('an attempt that hangs past the lag is dated afresh when it is tried again', async () => {
    // The first attempt commits 3 s late (its marker then stops it), the second never answers, the third goes through.
    const { seen, logged } = await run([{ commitAfterMs: 3000 }, 'hang']);
    expect(seen.sort()).toEqual(['prompt', 'slow']);
    expect(logged.sort()).toEqual(['prompt', 'slow']);
  });

  it('a late commit of an unanswered attempt, found by the attempt after it, is moved where delivery still reads', async () => {
    // The first attempt commits 2.5 s late, past the lag; the next two never answer; the fourth finds the marker.
    const { seen, logged } = await run([{ commitAfterMs: 2500 }, 'hang', 'hang']);
    expect(seen.sort()).toEqual(['prompt', 'slow']);
    // Moved, not copied: a replay of the range sends it once.
    expect(logged.sort()).toEqual(['prompt', 'slow']);
  });
});
