// Issue 14, item 11: the erasure's steps against DynamoDB Local and s3rver, message by message
// and file by file: what an erased message keeps (status, event times, counts) and loses (row
// data, SES id, SMTP texts, user agents, IPs, URLs, its place in the recipient index); a message
// being sent is left for later (or, forced, erased as it is); a message not yet sent is
// suppressed; a late SES event on an erased message counts but writes no detail; the hash
// suppression reaches ingest and the send path's check; a file a campaign still ingests waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASED_ADDRESS, type ErasureRef } from '../../src/domain/erasure';
import { erasureIdFor, recipientHash } from '../../src/domain/recipient-hash';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { DYNAMODB_ITEM_LIMIT, itemSize } from '../../src/domain/item-size';
import { createGovernanceActivities } from '../../activities';
import { allMessages, campaign, runActivity, setupDeps, TENANTS, transaction, uid } from './fixtures';

let ctx: ReturnType<typeof setupDeps>;
let governance: ReturnType<typeof createGovernanceActivities>;
beforeAll(() => {
  ctx = setupDeps();
  governance = createGovernanceActivities(ctx.deps);
});
afterAll(() => ctx.close());

const at = () => new Date().toISOString();
const reload = async (m: MessageRecord) =>
  (await ctx.deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id)) as MessageRecord & Record<string, unknown>;
const refOf = (email: string): ErasureRef => ({
  tenantId: TENANTS.a.tenantId,
  erasureId: erasureIdFor(TENANTS.a.tenantId, recipientHash(email)),
  recipientHash: recipientHash(email),
});
const ingested = async (csv: string) => {
  const c = await campaign(ctx.deps, csv);
  await runActivity(ctx.activities.ingestRecipients, [c.input]);
  return { ...c, messages: await allMessages(ctx.deps, c.txn.transaction_id) };
};

describe('erasing a recipient item by item', () => {
  it('erases a sent message down to its status, event times and counts; a late event counts and writes no detail', async () => {
    const person = `sent-${uid()}@example.org`;
    const { txn, messages } = await ingested(`email,name\n${person},Ada\n`);
    const m = messages[0]!;
    const ses = `ses-${uid()}`;
    expect(await ctx.deps.messages.transitionMessage(m, 'SENDING', { from: ['CREATED'], set: { attempt_token: 't' } })).toBe(true);
    expect(await ctx.deps.messages.transitionMessage(m, 'SENT', { from: ['SENDING'], token: 't', set: { ses_message_id: ses } })).toBe(
      true,
    );
    const ref = { transactionId: m.transaction_id, batchId: m.batch_id, messageId: m.message_id, sesMessageId: ses };
    await ctx.deps.messages.applyEffect(ref, {
      kind: 'delivery',
      at: at(),
      status: 'DELIVERED',
      flag: 'delivered_time',
      counter: 'delivered',
      outcome: true,
      fields: { smtp_response: `250 ok <${person}>` },
    });
    await ctx.deps.messages.applyEffect(ref, {
      kind: 'open',
      at: at(),
      status: 'OPENED',
      flag: 'opened_time',
      counter: 'opened',
      outcome: false,
      fields: { open_user_agent: 'Mozilla/5.0', open_ip: '192.0.2.7' },
    });

    const result = await runActivity(governance.eraseRecipientItems, [refOf(person)]);
    expect(result.result).toEqual({ messages_erased: 1, messages_suppressed_before_send: 0, rejected_rows_erased: 0, in_flight: 0 });
    const erased = await reload(m);
    expect(erased).toMatchObject({
      recipient_email: ERASED_ADDRESS,
      status: 'OPENED',
      delivered_time: expect.any(String),
      opened_time: expect.any(String),
    });
    for (const gone of ['placeholder_data', 'ses_message_id', 'smtp_response', 'open_user_agent', 'open_ip', 'recipient_key']) {
      expect(erased, gone).not.toHaveProperty(gone);
    }
    // The history keeps its statuses and times, not what the events recorded beside them.
    for (const entry of erased.status_history) expect(entry).not.toHaveProperty('metadata');
    expect(JSON.stringify(erased)).not.toContain(person);

    // The person clicks a mail weeks later: counted, and nothing about them is stored.
    const click = await ctx.deps.messages.applyEffect(ref, {
      kind: 'click',
      at: at(),
      status: 'CLICKED',
      flag: 'clicked_time',
      counter: 'clicked',
      outcome: false,
      fields: { clicked_url: `https://example.com/?who=${person}`, click_user_agent: 'Mozilla/5.0', click_ip: '192.0.2.7' },
    });
    expect(click).toMatchObject({ found: true, applied: true });
    const late = await reload(m);
    expect(late.status).toBe('CLICKED');
    expect(late).not.toHaveProperty('clicked_url');
    expect(late).not.toHaveProperty('click_ip');
    expect(JSON.stringify(late)).not.toContain(person);
    expect((await transaction(ctx.deps, txn.transaction_id)).counts).toMatchObject({ delivered: 1, opened: 1, clicked: 1 });
  });

  it('suppresses a message not yet sent, leaves one being sent for later, and erases it as it is once forced', async () => {
    const person = `unsent-${uid()}@example.org`;
    const first = await ingested(`email,name\n${person},Ada\n`);
    const second = await ingested(`email,name\nother-${uid()}@example.org,Bo\n${person.toUpperCase()},Ada\n`);
    const sending = second.messages.find((m) => m.recipient_email === person)!;
    expect(await ctx.deps.messages.transitionMessage(sending, 'SENDING', { from: ['CREATED'], set: { attempt_token: 'held' } })).toBe(true);

    const pass = await runActivity(governance.eraseRecipientItems, [refOf(person)]);
    expect(pass.result).toEqual({ messages_erased: 0, messages_suppressed_before_send: 1, rejected_rows_erased: 0, in_flight: 1 });
    const suppressed = await reload(first.messages[0]!);
    expect(suppressed).toMatchObject({ status: 'SUPPRESSED', recipient_email: ERASED_ADDRESS });
    expect(suppressed.status_history.at(-1)).toMatchObject({ status: 'SUPPRESSED', metadata: { reason: 'erased' } });
    expect((await reload(sending)).recipient_email).toBe(person);

    const forced = await runActivity(governance.eraseRecipientItems, [{ ...refOf(person), force: true }]);
    expect(forced.result).toMatchObject({ messages_erased: 1, in_flight: 0 });
    expect(await reload(sending)).toMatchObject({ status: 'SENDING', attempt_token: 'held', recipient_email: ERASED_ADDRESS });
    // Whatever state an erasure left a message in, the send path never mails the marker.
    const blocked = await ctx.deps.suppressions.suppressedOrErasedAmong(TENANTS.a.tenantId, [ERASED_ADDRESS, `x-${uid()}@example.org`]);
    expect([...blocked]).toEqual([ERASED_ADDRESS]);
  });

  it('suppresses an erased person by hash for ingest and the send path, for their tenant only', async () => {
    const person = `hashed-${uid()}@example.org`;
    const ref = refOf(person);
    await ctx.deps.suppressions.suppressErasedRecipient({
      tenant_id: TENANTS.a.tenantId,
      recipient_hash: ref.recipientHash,
      reason: 'ERASED',
      erasure_id: ref.erasureId,
      created_at: at(),
    });
    expect(await ctx.deps.suppressions.suppressedOrErasedAmong(TENANTS.a.tenantId, [person])).toEqual(new Set([person]));
    expect(await ctx.deps.suppressions.suppressedOrErasedAmong(TENANTS.b.tenantId, [person])).toEqual(new Set());
    const { messages } = await ingested(`email,name\n${person},Ada\nfree-${uid()}@example.org,Bo\n`);
    expect(messages.map((m) => m.status)).toEqual(['SUPPRESSED', 'CREATED']);
  });

  it("cuts the person's rows out of a file, but only once no campaign still ingests it (or the wait is over)", async () => {
    const person = `filed-${uid()}@example.org`;
    const csv = `email,name\n${person},Ada\nkept-${uid()}@example.org,Bo\n`;
    const { txn, fileId } = await ingested(csv);
    const key = `tenants/${TENANTS.a.tenantId}/files/${fileId}.csv`;
    // The campaign is still in ACCEPT (no workflow moved it on): its file is in use.
    const deferred = await runActivity(governance.eraseRecipientFiles, [refOf(person)]);
    expect(deferred.result).toMatchObject({ deferred: 1, rewritten: 0 });
    expect(await ctx.deps.objects.getText(key)).toBe(csv);

    for (const status of ['PROCESSING', 'READY_TO_SEND'] as const)
      expect(await ctx.deps.store.setTransactionStatus(txn.transaction_id, status)).toBe(true);
    const done = await runActivity(governance.eraseRecipientFiles, [refOf(person)]);
    expect(done.result).toMatchObject({ deferred: 0, rewritten: 1, rows_removed: 1 });
    expect(await ctx.deps.objects.getText(key)).toBe(csv.replace(`${person},Ada\n`, ''));

    const again = await ingested(`email\n${person}\n`);
    const forced = await runActivity(governance.eraseRecipientFiles, [{ ...refOf(person), force: true }]);
    expect(forced.result).toMatchObject({ deferred: 0, rewritten: 1 });
    expect(await ctx.deps.objects.getText(`tenants/${TENANTS.a.tenantId}/files/${again.fileId}.csv`)).toBe('email\n');
  });

  it('migrates items written before the recipient index: the backfill gives them their key and expiry', async () => {
    const person = `legacy-${uid()}@example.org`;
    const { txn } = await campaign(ctx.deps, 'email\n');
    const created = '2026-01-01T00:00:00.000Z';
    const message: MessageRecord = {
      message_id: 'b00001-r000000001',
      batch_id: 'b00001',
      transaction_id: txn.transaction_id,
      tenant_id: TENANTS.a.tenantId,
      row: 1,
      recipient_email: person,
      placeholder_data: {},
      status: 'DELIVERED',
      status_history: [{ status: 'CREATED', timestamp: created }],
      created_at: created,
      updated_at: created,
    };
    // As ingest wrote them before: no recipient_key, no expires_at. The third is an old item
    // already a few bytes short of DynamoDB's 400 KB: it cannot take the key.
    const full = { ...message, message_id: 'b00001-r000000003', row: 3, placeholder_data: { pad: '' } };
    const fullItem = ctx.deps.messages.messageItem(full);
    full.placeholder_data.pad = 'x'.repeat(DYNAMODB_ITEM_LIMIT - 8 - itemSize(fullItem));
    await ctx.deps.writer.writeAll([
      ctx.deps.messages.messageItem(message),
      ctx.deps.rowErrors.rowErrorItem(txn.transaction_id, { row: 2, email: person, code: 'DUPLICATE', message: 'again' }),
      ctx.deps.messages.messageItem(full),
    ]);
    expect((await ctx.deps.recipients.pageItems(TENANTS.a.tenantId, recipientHash(person), 'message', 10)).items).toEqual([]);

    // The scan covers the whole table, other files' items too: the run has to get through them.
    const asked: string[] = [];
    const tooLarge: Record<string, unknown>[] = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await ctx.deps.recipients.backfillPage(async (tenantId, createdAt) => {
        asked.push(`${tenantId}@${createdAt}`);
        return 4_102_444_800;
      }, cursor);
      tooLarge.push(...page.tooLarge);
      cursor = page.cursor;
    } while (cursor);
    expect(asked).toEqual(expect.arrayContaining([`${TENANTS.a.tenantId}@${created}`, `${TENANTS.a.tenantId}@${txn.created_at}`]));
    const fullKey = ctx.deps.messages.messageItem(full);
    expect(tooLarge).toContainEqual({ PK: fullKey.PK, SK: fullKey.SK });
    const indexed = await ctx.deps.recipients.pageItems(TENANTS.a.tenantId, recipientHash(person), 'message', 10);
    expect(indexed.items.map((i) => i.SK)).toEqual([ctx.deps.messages.messageItem(message).SK]);
    for (const kind of ['message', 'rowError'] as const) {
      const [found] = (await ctx.deps.recipients.pageItems(TENANTS.a.tenantId, recipientHash(person), kind, 10)).items;
      expect(found, kind).toMatchObject({ transaction_id: txn.transaction_id });
      expect((await ctx.deps.recipients.getItems([found!]))[0]).toMatchObject({ expires_at: 4_102_444_800 });
    }
  });
});
