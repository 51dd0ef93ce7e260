// The DynamoDB stores against DynamoDB Local: idempotency keys, tenant scoping, forward-only
// conditional message transitions, counters and suppressions.
import { afterAll, describe, expect, it } from 'vitest';
import { SENDABLE_STATUSES } from '../../src/domain/message-status';
import type { MessageRecord } from '../../src/adapters/dynamo/types';
import { ReputationTable } from '../../src/adapters/dynamo/reputation';
import { createFile, createTemplate, createTransaction, setupDeps, suppress, TENANTS, uid } from './fixtures';

const { config, deps, doc, close } = setupDeps();
afterAll(() => close());

async function newTransaction() {
  const templateId = await createTemplate(deps, { subject: 'Hi', html: '<p>Hi</p>' });
  const fileId = await createFile(deps, 'email\n');
  return { templateId, fileId, txn: await createTransaction(deps, { templateId, fileId }) };
}

async function newMessage(): Promise<MessageRecord> {
  const at = new Date().toISOString();
  const message: MessageRecord = {
    message_id: 'b00001-r000000001',
    batch_id: 'b00001',
    transaction_id: `txn-${uid()}`,
    tenant_id: TENANTS.a.tenantId,
    row: 1,
    recipient_email: `m-${uid()}@example.com`,
    placeholder_data: {},
    status: 'CREATED',
    status_history: [{ status: 'CREATED', timestamp: at }],
    created_at: at,
    updated_at: at,
  };
  await deps.writer.writeAll([deps.messages.messageItem(message)]);
  return message;
}

const reload = async (m: MessageRecord) => (await deps.messages.getMessage(m.transaction_id, m.batch_id, m.message_id))!;

describe('Store.claimIdempotencyKey', () => {
  it('claims a key once; a replay or a different request gets the first claim back', async () => {
    const key = `idem-${uid()}`;
    expect(await deps.store.claimIdempotencyKey(TENANTS.a.tenantId, key, 'hash-1', 'txn-first')).toEqual({ claimed: true });
    expect(await deps.store.claimIdempotencyKey(TENANTS.a.tenantId, key, 'hash-1', 'txn-second')).toEqual({
      claimed: false,
      requestHash: 'hash-1',
      transactionId: 'txn-first',
    });
    expect(await deps.store.claimIdempotencyKey(TENANTS.a.tenantId, key, 'hash-2', 'txn-third')).toEqual({
      claimed: false,
      requestHash: 'hash-1',
      transactionId: 'txn-first',
    });
  });

  it('scopes keys per tenant', async () => {
    const key = `idem-${uid()}`;
    expect(await deps.store.claimIdempotencyKey(TENANTS.a.tenantId, key, 'h', 'txn-a')).toEqual({ claimed: true });
    expect(await deps.store.claimIdempotencyKey(TENANTS.b.tenantId, key, 'h', 'txn-b')).toEqual({ claimed: true });
  });

  it('lets exactly one of many concurrent claims win', async () => {
    const key = `idem-${uid()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => deps.store.claimIdempotencyKey(TENANTS.a.tenantId, key, 'h', `txn-${i}`)),
    );
    const winners = results.filter((r) => r.claimed);
    expect(winners).toHaveLength(1);
    const owners = new Set(results.flatMap((r) => (r.claimed ? [] : [r.transactionId])));
    expect(owners.size).toBe(1);
  });
});

describe('tenant scoping', () => {
  it("hides another tenant's transaction, template and file", async () => {
    const { txn, templateId, fileId } = await newTransaction();
    expect(await deps.store.getTransaction(TENANTS.b.tenantId, txn.transaction_id)).toBeUndefined();
    expect((await deps.store.getTransaction(TENANTS.a.tenantId, txn.transaction_id))?.transaction_id).toBe(txn.transaction_id);
    expect((await deps.store.getTransaction(undefined, txn.transaction_id))?.tenant_id).toBe(TENANTS.a.tenantId);
    expect(await deps.store.getTemplate(TENANTS.b.tenantId, templateId)).toBeUndefined();
    expect(await deps.store.getFile(TENANTS.b.tenantId, fileId)).toBeUndefined();
    expect((await deps.store.getTemplate(TENANTS.a.tenantId, templateId))?.status).toBe('READY');
  });

  it('refuses to create the same transaction id twice', async () => {
    const { txn, templateId, fileId } = await newTransaction();
    await expect(
      deps.store.createTransaction({
        transaction_id: txn.transaction_id,
        tenant_id: TENANTS.b.tenantId,
        template_id: templateId,
        file_id: fileId,
      }),
    ).rejects.toThrow();
    expect((await deps.store.getTransaction(undefined, txn.transaction_id))?.tenant_id).toBe(TENANTS.a.tenantId);
  });

  it('keeps suppression lists per tenant', async () => {
    const email = `s-${uid()}@example.com`;
    await suppress(deps, email, TENANTS.a.tenantId);
    expect(await deps.suppressions.suppressedAmong(TENANTS.a.tenantId, [email, `other-${uid()}@example.com`])).toEqual(new Set([email]));
    expect(await deps.suppressions.suppressedAmong(TENANTS.b.tenantId, [email])).toEqual(new Set());
    expect(await deps.suppressions.deleteSuppression(TENANTS.a.tenantId, email)).toBe(true);
    expect(await deps.suppressions.suppressedAmong(TENANTS.a.tenantId, [email])).toEqual(new Set());
  });
});

describe('MessageTable.transitionMessage', () => {
  it('moves forward with history, and refuses a backward move (SENT → SENDING)', async () => {
    const m = await newMessage();
    expect(await deps.messages.transitionMessage(m, 'SENDING', { from: SENDABLE_STATUSES, set: { attempt_token: 'tok-1' } })).toBe(true);
    expect(await deps.messages.transitionMessage(m, 'SENT', { from: ['SENDING'], token: 'tok-1', set: { ses_message_id: 'ses-1' } })).toBe(
      true,
    );
    const sent = await reload(m);
    expect(sent.status).toBe('SENT');
    expect(sent.ses_message_id).toBe('ses-1');

    expect(await deps.messages.transitionMessage(m, 'SENDING', { from: SENDABLE_STATUSES, set: { attempt_token: 'tok-2' } })).toBe(false);
    const unchanged = await reload(m);
    expect(unchanged).toEqual(sent);
    expect(unchanged.status_history.map((h) => h.status)).toEqual(['CREATED', 'SENDING', 'SENT']);
  });

  it('refuses SENDING → SENT for another attempt token', async () => {
    const m = await newMessage();
    await deps.messages.transitionMessage(m, 'SENDING', { from: SENDABLE_STATUSES, set: { attempt_token: 'mine' } });
    expect(await deps.messages.transitionMessage(m, 'SENT', { from: ['SENDING'], token: 'not-mine' })).toBe(false);
    expect((await reload(m)).status).toBe('SENDING');
    expect(await deps.messages.transitionMessage(m, 'FAILED', { from: ['SENDING'], token: 'mine', set: { failure_reason: 'x' } })).toBe(
      true,
    );
    expect(await reload(m)).toMatchObject({ status: 'FAILED', failure_reason: 'x' });
  });
});

describe('Store counters', () => {
  it('adds atomically under concurrency, and overwrites in set mode', async () => {
    const { txn } = await newTransaction();
    await Promise.all(Array.from({ length: 10 }, () => deps.store.updateCounts(txn.transaction_id, { sent: 1, failed: 2 })));
    expect((await deps.store.getTransaction(undefined, txn.transaction_id))!.counts).toMatchObject({ sent: 10, failed: 20, invalid: 0 });
    await deps.store.updateCounts(txn.transaction_id, { sent: 0, suppressed: 4 }, 'set');
    expect((await deps.store.getTransaction(undefined, txn.transaction_id))!.counts).toMatchObject({ sent: 0, failed: 20, suppressed: 4 });
  });
});

describe('ReputationTable.claimQuotaHold', () => {
  it("gives each poll interval's quota hold to one worker of several claiming at once", async () => {
    const table = new ReputationTable(doc, config.DYNAMODB_TABLE);
    // An interval of its own (a random hour in 2099), so reruns and other tests do not meet it.
    const interval = Date.parse('2099-01-01T00:00:00Z') + Math.floor(Math.random() * 100_000) * 3_600_000;
    const claims = await Promise.all(Array.from({ length: 6 }, (_, i) => table.claimQuotaHold(interval, `worker-${i}`)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await table.claimQuotaHold(interval, 'late')).toBe(false);
    expect(await table.claimQuotaHold(interval + 3_600_000, 'next interval')).toBe(true);
  });
});
