// Issue 14 item 5, the suppression store against DynamoDB Local: deleting a suppression leaves a
// tombstone (the address's hash and the ids of the event that made it, no address), and an
// event's guarded add is refused when the deletion came after the event or undid this very
// event's suppression; a first application (unguarded) and a later event still suppress.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/adapters/dynamo/keys';
import type { SuppressionRecord } from '../../src/adapters/dynamo/types';
import { recipientHash } from '../../src/domain/recipient-hash';
import { setupDeps, TENANTS, uid } from './fixtures';

const { deps, close } = setupDeps();
afterAll(() => close());
const tenant = TENANTS.a.tenantId;
const store = deps.suppressions;

/** A bounce's suppression as the event processor writes it. */
const bounceOf = (email: string, at: string, messageId = 'b00001-r000000001'): SuppressionRecord => ({
  tenant_id: tenant,
  email,
  reason: 'BOUNCE_PERMANENT',
  source: { event: 'bounce', transaction_id: 'txn-1', message_id: messageId, ses_message_id: 'ses-1', bounce_diagnostic: `550 <${email}>` },
  created_at: at,
});

async function tombstoneOf(email: string) {
  const { Item } = await store.doc.send(
    new GetCommand({ TableName: store.table, Key: keys.suppressionTombstone(tenant, recipientHash(email)) }),
  );
  return Item;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('suppression tombstones', () => {
  it('a deletion leaves the hash, the time and the event ids, never the address', async () => {
    const email = `t-${uid()}@example.com`;
    const eventAt = iso(Date.now() - 60_000);
    expect(await store.addSuppression(bounceOf(email, eventAt))).toBe(true);
    const before = Date.now();
    expect(await store.deleteSuppression(tenant, email)).toBe(true);
    const tombstone = await tombstoneOf(email);
    expect(tombstone).toMatchObject({
      tenant_id: tenant,
      deleted_reason: 'BOUNCE_PERMANENT',
      deleted_created_at: eventAt,
      deleted_event: 'bounce',
      deleted_message_id: 'b00001-r000000001',
      deleted_ses_message_id: 'ses-1',
    });
    expect(Date.parse(tombstone!.deleted_at as string)).toBeGreaterThanOrEqual(before);
    expect(tombstone!.expires_at).toBeGreaterThan(Date.now() / 1000 + 6 * 24 * 3600);
    expect(JSON.stringify(tombstone)).not.toContain(email);
    // Not a suppression: the list and the send path do not see it.
    expect(await store.getSuppression(tenant, email)).toBeUndefined();
    expect(await store.suppressedAmong(tenant, [email])).toEqual(new Set());
    // Nothing to delete: 404 at the API, and no tombstone is rewritten.
    expect(await store.deleteSuppression(tenant, email)).toBe(false);
    expect((await tombstoneOf(email))!.deleted_at).toBe(tombstone!.deleted_at);
  });

  it('refuses a guarded add of an event older than the deletion, or of the very event it undid', async () => {
    const email = `t-${uid()}@example.com`;
    const eventAt = iso(Date.now() - 60_000);
    await store.addSuppression(bounceOf(email, eventAt));
    await store.deleteSuppression(tenant, email);
    // The same bounce again (a redelivery): older than the deletion.
    expect(await store.addSuppression(bounceOf(email, eventAt), { unlessDeletedAfter: eventAt })).toBe(false);
    // Another event before the deletion (a complaint that had come in meanwhile) is refused too.
    const complaint = {
      ...bounceOf(email, iso(Date.now() - 30_000)),
      reason: 'COMPLAINT',
      source: { event: 'complaint', message_id: 'm2' },
    };
    expect(await store.addSuppression(complaint, { unlessDeletedAfter: complaint.created_at })).toBe(false);
    expect(await store.getSuppression(tenant, email)).toBeUndefined();
  });

  it('refuses the very event it undid even when that event is dated after the deletion (clocks apart)', async () => {
    const email = `t-${uid()}@example.com`;
    // Amazon's clock ahead of ours: the bounce is dated a minute after our deletion time.
    const eventAt = iso(Date.now() + 60_000);
    await store.addSuppression(bounceOf(email, eventAt));
    await store.deleteSuppression(tenant, email);
    expect(await store.addSuppression(bounceOf(email, eventAt), { unlessDeletedAfter: eventAt })).toBe(false);
    // Another bounce of the same message at another time is another event.
    const later = iso(Date.now() + 120_000);
    expect(await store.addSuppression(bounceOf(email, later), { unlessDeletedAfter: later })).toBe(true);
  });

  it('takes an event later than the deletion, an unguarded first application, and a guarded add with no tombstone', async () => {
    const email = `t-${uid()}@example.com`;
    await store.addSuppression(bounceOf(email, iso(Date.now() - 60_000)));
    await store.deleteSuppression(tenant, email);
    const later = iso(Date.now() + 5);
    expect(await store.addSuppression(bounceOf(email, later, 'b00002-r000000001'), { unlessDeletedAfter: later })).toBe(true);
    expect(await store.getSuppression(tenant, email)).toMatchObject({ reason: 'BOUNCE_PERMANENT', created_at: later });
    // Already suppressed: the first reason is kept, guarded or not.
    expect(await store.addSuppression({ ...bounceOf(email, later), reason: 'COMPLAINT' }, { unlessDeletedAfter: later })).toBe(false);

    const other = `t-${uid()}@example.com`;
    const old = iso(Date.now() - 3600_000);
    await store.addSuppression(bounceOf(other, iso(Date.now() - 60_000)));
    await store.deleteSuppression(tenant, other);
    expect(await store.addSuppression(bounceOf(other, old, 'b00003-r000000001'))).toBe(true);

    const fresh = `t-${uid()}@example.com`;
    expect(await store.addSuppression(bounceOf(fresh, old), { unlessDeletedAfter: old })).toBe(true);
  });

  it('a tenant deleting again after a new suppression moves the tombstone forward', async () => {
    const email = `t-${uid()}@example.com`;
    await store.addSuppression(bounceOf(email, iso(Date.now() - 60_000)));
    await store.deleteSuppression(tenant, email);
    const first = (await tombstoneOf(email))!.deleted_at as string;
    await store.putSuppression({
      tenant_id: tenant,
      email,
      reason: 'MANUAL',
      source: { type: 'api' },
      created_at: new Date().toISOString(),
    });
    await new Promise((r) => setTimeout(r, 5));
    await store.deleteSuppression(tenant, email);
    const second = await tombstoneOf(email);
    expect(second!.deleted_at > first).toBe(true);
    expect(second).toMatchObject({ deleted_reason: 'MANUAL', deleted_type: 'api' });
    expect(second!.deleted_message_id).toBeUndefined();
  });
});
