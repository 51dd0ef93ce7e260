// Issue 17, item 1 against DynamoDB Local: the event log of event webhooks. An event is logged
// only for a tenant with an enabled endpoint that wants it (its endpoint list read once per cache
// period, not per event); a log write that fails fails the event, and SNS's redelivery (a
// "duplicate" to the message) writes the entry it missed, once, however often it comes again.
import { afterAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { cursorAt, type EventWebhookTable } from '../../src/adapters/dynamo/event-webhooks';
import type { SesEvent } from '../../src/domain/ses-event';
import { EventLog } from '../../src/events/event-log';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { createLogger } from '../../src/logging';
import { allMessages, campaign, runActivity, setupDeps, uid } from './fixtures';

const { deps, activities, close } = setupDeps();
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
