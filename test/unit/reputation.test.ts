// The reputation guard's rules (src/reputation): the window, the verdict and its minimum volume,
// what a hold does (once per tenant across checks, each sending campaign paused with a reason,
// an audit entry, the metric), its release, and the SES quota arithmetic. Stand-ins for the
// table, the campaign index and Temporal: the e2e test (test/e2e/reputation.e2e.test.ts) runs
// the real ones.
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { ReputationGuard, STATE_CACHE_MS, type ReputationCounters } from '../../src/reputation/guard';
import { countOf, heldReason, judge, shardOf, windowBuckets, type GuardSettings, type Totals } from '../../src/reputation/rates';
import { effectiveQuota, holdForQuota, platformSendRate, quotaWouldBeCrossed } from '../../src/reputation/ses-quota';
import type { ReputationState } from '../../src/adapters/dynamo/reputation';
import type { AuditInput } from '../../src/adapters/dynamo/audit';
import { loadConfig } from '../../src/config';

const thresholds = { minSends: 500, bounceRate: 0.05, complaintRate: 0.001 };
const H = 3_600_000;

describe('the verdict', () => {
  it('judges nothing below the minimum volume', () => {
    const few = judge({ sends: 3, bounces: 1, complaints: 1 }, thresholds);
    expect(few).toMatchObject({ judged: false });
    expect(few.over).toBeUndefined();
    expect(judge({ sends: 499, bounces: 499, complaints: 0 }, thresholds).over).toBeUndefined();
  });

  it('holds at SES thresholds: 5 % hard bounces, 0.1 % complaints, the complaint rate first', () => {
    expect(judge({ sends: 1000, bounces: 49, complaints: 0 }, thresholds).over).toBeUndefined();
    expect(judge({ sends: 1000, bounces: 50, complaints: 0 }, thresholds).over).toBe('bounce_rate');
    expect(judge({ sends: 1000, bounces: 0, complaints: 0 }, thresholds).over).toBeUndefined();
    expect(judge({ sends: 2000, bounces: 0, complaints: 1 }, thresholds).over).toBeUndefined();
    expect(judge({ sends: 1000, bounces: 0, complaints: 1 }, thresholds).over).toBe('complaint_rate');
    expect(judge({ sends: 1000, bounces: 60, complaints: 2 }, thresholds)).toMatchObject({
      over: 'complaint_rate',
      bounceRate: 0.06,
      complaintRate: 0.002,
    });
  });

  it('counts sends, hard bounces and complaints only', () => {
    expect(['send', 'delivery', 'open', 'click', 'reject'].map((k) => countOf(k))).toEqual([
      'sends',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(countOf('bounce', 'Permanent')).toBe('bounces');
    expect(countOf('bounce', 'Transient')).toBeUndefined();
    expect(countOf('bounce', 'Undetermined')).toBeUndefined();
    expect(countOf('complaint')).toBe('complaints');
  });

  it('says what crossed in held_reason', () => {
    const v = judge({ sends: 1000, bounces: 0, complaints: 7 }, thresholds);
    expect(heldReason('complaint_rate', v, { ...thresholds, windowMs: 24 * H })).toBe(
      "reputation guard: the tenant's complaint rate 0.7 % over 24 h is at or over 0.1 %",
    );
  });
});

describe('the window', () => {
  it('covers the last window in whole buckets, the oldest partly inside', () => {
    const now = Date.parse('2026-01-02T10:30:00Z');
    const { from, to } = windowBuckets(now, 24 * H, H);
    expect(new Date(from).toISOString()).toBe('2026-01-01T10:00:00.000Z');
    expect(new Date(to).toISOString()).toBe('2026-01-02T10:00:00.000Z');
    // On a bucket edge: exactly the window's buckets.
    const edge = Date.parse('2026-01-02T10:00:00Z');
    expect(windowBuckets(edge, 24 * H, H).from).toBe(Date.parse('2026-01-01T10:00:00Z'));
  });

  it('puts one message on one shard, the shards evenly used', () => {
    expect(shardOf('t/b00001-r000000001', 16)).toBe(shardOf('t/b00001-r000000001', 16));
    expect(shardOf('anything', 1)).toBe(0);
    const used = new Set(Array.from({ length: 400 }, (_, i) => shardOf(`t/m${i}`, 16)));
    expect(used.size).toBe(16);
  });
});

/** A table stand-in: totals as set by the test, the state item with the table's conditions. */
function fakeCounters(totals: { value: Totals }) {
  let state: ReputationState | undefined;
  const counters: ReputationCounters = {
    increment: async () => undefined,
    totals: async () => totals.value,
    getState: async () => (state ? { ...state } : undefined),
    async hold(tenantId, h) {
      if (state?.held_since) return false;
      state = { ...state, tenant_id: tenantId, ...h, updated_at: h.held_since };
      return true;
    },
    async release(_t, since, at) {
      if (state?.held_since !== since) return false;
      state = { tenant_id: state.tenant_id, released_at: at, updated_at: at };
      return true;
    },
  };
  return counters;
}

function setup(
  mode: GuardSettings['mode'] = 'hold',
  shared?: { totals: { value: Totals }; counters: ReputationCounters; clock?: { now: number } },
) {
  const totals = shared?.totals ?? { value: { sends: 1000, bounces: 0, complaints: 0 } as Totals };
  const counters = shared?.counters ?? fakeCounters(totals);
  const audit: AuditInput[] = [];
  const fields: [string, Record<string, unknown>][] = [];
  const updates: string[] = [];
  const registry = new Registry();
  const campaigns = [
    { transaction_id: 'c-sending', status: 'READY_TO_SEND' },
    { transaction_id: 'c-finishing', status: 'READY_TO_SEND' },
  ];
  const guard = new ReputationGuard(
    {
      counters,
      campaigns: {
        listCampaigns: async (_tenant, q) => ({ items: campaigns.filter((c) => c.status === q.status) as never }),
      },
      store: { setTransactionFields: async (id, f) => void fields.push([id, f]) },
      temporal: {
        workflow: {
          getHandle: (id: string) => ({
            executeUpdate: async () => {
              updates.push(id);
              // Its last chunk went out meanwhile: the workflow refuses the pause.
              if (id === 'txn-c-finishing') throw new WorkflowUpdateFailedError('refused', new Error('nothing is left to pause'));
              return { status: 'READY_TO_SEND' };
            },
          }),
        } as never,
      },
      audit: { record: async (e) => void audit.push(e) },
      registry,
      log: { info() {}, warn() {}, error() {} },
      ...(shared?.clock ? { now: () => shared.clock!.now } : {}),
    },
    { mode, windowMs: 24 * H, bucketMs: H, debounceMs: 0, shards: 4, ...thresholds },
  );
  return { guard, totals, counters, audit, fields, updates, registry };
}

describe('the guard', () => {
  it('holds a tenant over a threshold once: pauses its sending campaigns with a reason, audits, counts', async () => {
    const { guard, totals, audit, fields, updates, registry } = setup();
    expect((await guard.check('t1')).held).toBe(false);
    totals.value = { sends: 1000, bounces: 10, complaints: 3 };
    const view = await guard.check('t1');
    expect(view).toMatchObject({ held: true, over_threshold: 'complaint_rate', complaint_rate: 0.003, bounce_rate: 0.01 });
    expect(view.held_reason).toMatch(/^reputation guard: the tenant's complaint rate 0.3 %/);
    expect(updates).toEqual(['txn-c-sending', 'txn-c-finishing']);
    // The reason is written, then taken back where the pause was refused.
    expect(fields).toEqual([
      ['c-sending', { held_reason: view.held_reason }],
      ['c-finishing', { held_reason: view.held_reason }],
      ['c-finishing', { held_reason: null }],
    ]);
    expect(audit.map((a) => [a.action, a.target, a.principal.type, a.principal.id])).toEqual([
      ['reputation.hold', 't1', 'system', 'reputation-guard'],
      ['campaigns.pause', 'c-sending', 'system', 'reputation-guard'],
    ]);
    // A second check while held takes no second hold (the sweep runs again: nothing new to pause here).
    await guard.check('t1');
    expect(audit.filter((a) => a.action === 'reputation.hold')).toHaveLength(1);
    const metrics = await registry.metrics();
    expect(metrics).toContain('email_engine_reputation_holds_total{tenant="t1",reason="complaint_rate"} 1');
    expect(metrics).toContain('email_engine_tenant_complaint_rate{tenant="t1"} 0.003');
    expect(metrics).toContain('email_engine_tenant_bounce_rate{tenant="t1"} 0.01');
    expect((await guard.isHeld('t1'))?.held).toBe(true);
  });

  it('lifts the hold when the rates are back under the thresholds (campaigns stay paused)', async () => {
    const { guard, totals, audit, updates } = setup();
    totals.value = { sends: 1000, bounces: 80, complaints: 0 };
    expect((await guard.check('t1')).over_threshold).toBe('bounce_rate');
    const paused = updates.length;
    totals.value = { sends: 5000, bounces: 80, complaints: 0 };
    expect(await guard.isHeld('t1')).toBeUndefined();
    const view = await guard.reputation('t1');
    expect(view).toMatchObject({ held: false, held_since: null });
    expect(view.released_at).not.toBeNull();
    expect(audit.map((a) => a.action)).toEqual(['reputation.hold', 'campaigns.pause', 'reputation.release']);
    expect(updates).toHaveLength(paused);
  });

  it('keeps the hold while the window is too thin to judge (paused campaigns send nothing)', async () => {
    const { guard, totals, audit } = setup();
    totals.value = { sends: 1000, bounces: 0, complaints: 5 };
    expect((await guard.check('t1')).held).toBe(true);
    // The campaigns are paused: the window empties as its buckets age out, with no evidence of better mail.
    totals.value = { sends: 40, bounces: 0, complaints: 0 };
    expect(await guard.check('t1')).toMatchObject({ held: true, judged: false, over_threshold: null });
    expect((await guard.isHeld('t1'))?.held).toBe(true);
    totals.value = { sends: 0, bounces: 0, complaints: 0 };
    expect((await guard.check('t1')).held).toBe(true);
    expect(audit.filter((a) => a.action === 'reputation.release')).toEqual([]);
    // Judged and under the thresholds: released, the reason recorded.
    totals.value = { sends: 600, bounces: 3, complaints: 0 };
    expect((await guard.check('t1')).held).toBe(false);
    const release = audit.find((a) => a.action === 'reputation.release');
    expect(release?.details).toMatchObject({ reason: 'judged_under_thresholds', sends: 600, min_sends: 500 });
  });

  it("shares the held state through the state item: another process's Send events and gates see the hold", async () => {
    const clock = { now: Date.parse('2026-01-02T10:00:00Z') };
    const one = setup('hold');
    const shared = { totals: one.totals, counters: one.counters, clock };
    const other = setup('hold', shared);
    // The other process reads the tenant as not held (and caches that read for a moment).
    expect(await other.guard.isHeld('t1')).toBeUndefined();
    one.totals.value = { sends: 1000, bounces: 0, complaints: 5 };
    expect((await one.guard.check('t1')).held).toBe(true);
    // Within the cache it may still let a request through; past it, it refuses.
    clock.now += STATE_CACHE_MS;
    expect((await other.guard.isHeld('t1'))?.held_since).not.toBeNull();
    // A Send it applies asks for a check (a campaign started meanwhile): the check pauses the tenant's campaigns.
    await other.guard.noteApplied({ tenantId: 't1', kind: 'send', messageId: 'm1' });
    await vi.waitFor(() => expect(other.updates).toEqual(['txn-c-sending', 'txn-c-finishing']));
    // The other process took no hold of its own.
    expect(other.audit.filter((a) => a.action === 'reputation.hold')).toEqual([]);
    await other.guard.close();
  });

  it('answers GET /tenant/reputation read-only: it takes no hold, lifts none, pauses nothing', async () => {
    const { guard, totals, audit, updates } = setup();
    totals.value = { sends: 1000, bounces: 0, complaints: 5 };
    expect(await guard.reputation('t1')).toMatchObject({ held: false, over_threshold: 'complaint_rate', judged: true });
    expect(await guard.isHeld('t1')).toBeUndefined();
    expect([audit, updates]).toEqual([[], []]);
    expect((await guard.check('t1')).held).toBe(true);
    const paused = updates.length;
    totals.value = { sends: 5000, bounces: 0, complaints: 0 };
    expect(await guard.reputation('t1')).toMatchObject({ held: true, over_threshold: null, judged: true });
    expect(updates).toHaveLength(paused);
    expect(audit.map((a) => a.action)).not.toContain('reputation.release');
  });

  it('observes without holding in observe mode', async () => {
    const { guard, totals, updates, audit } = setup('observe');
    totals.value = { sends: 1000, bounces: 0, complaints: 50 };
    expect(await guard.check('t1')).toMatchObject({ held: false, over_threshold: 'complaint_rate', mode: 'observe' });
    expect(await guard.isHeld('t1')).toBeUndefined();
    expect(updates).toEqual([]);
    expect(audit).toEqual([]);
  });
});

describe('the SES quota', () => {
  const base = { SEND_RATE_PER_SECOND: 14, SES_ENDPOINT: undefined };
  const account = { max24HourSend: 50_000, maxSendRate: 10, sentLast24Hours: 1200 };

  it('follows MaxSendRate unless configured lower', () => {
    expect(platformSendRate({ SEND_RATE_PER_SECOND: 14 }, account)).toBe(10);
    expect(platformSendRate({ SEND_RATE_PER_SECOND: 5 }, account)).toBe(5);
    expect(platformSendRate({ SEND_RATE_PER_SECOND: 5 }, undefined)).toBe(5);
  });

  it('lets the settings lower the account (AWS) or stand in for it (local)', () => {
    const aws = { ...base, AWS_ENDPOINT_MODE: 'aws' as const };
    expect(effectiveQuota(account, { ...aws, SES_MAX_24H_SEND: 100_000, SES_MAX_SEND_RATE: 4 })).toEqual({ ...account, maxSendRate: 4 });
    const local = { ...base, AWS_ENDPOINT_MODE: 'local' as const };
    expect(effectiveQuota(account, { ...local, SES_MAX_24H_SEND: 100_000, SES_MAX_SEND_RATE: 40 })).toEqual({
      ...account,
      max24HourSend: 100_000,
      maxSendRate: 40,
    });
    // The emulator's MaxSendRate only mirrors the launcher's rate: locally the configured rate applies.
    expect(effectiveQuota(account, { ...local, SES_MAX_24H_SEND: undefined, SES_MAX_SEND_RATE: undefined })).toEqual({
      ...account,
      maxSendRate: 14,
    });
  });

  it('holds before the 24-hour quota would be crossed within one poll interval at the send rate', () => {
    const q = (sent: number) => ({ max24HourSend: 10_000, maxSendRate: 10, sentLast24Hours: sent });
    // 300 s at 10/s is 3,000 more: from 7,000 sent on, the next reading could come too late.
    expect(quotaWouldBeCrossed(q(6_999), 10, 300_000)).toBe(false);
    expect(quotaWouldBeCrossed(q(7_000), 10, 300_000)).toBe(true);
    expect(quotaWouldBeCrossed(q(9_998), 1, 1000)).toBe(false);
    expect(quotaWouldBeCrossed(q(9_999), 1, 1000)).toBe(true);
    expect(quotaWouldBeCrossed({ ...q(5), max24HourSend: Number.POSITIVE_INFINITY }, 10, 300_000)).toBe(false);
  });

  it('pauses the sending campaigns with a reason and an audit entry, leaving the reason off where the pause was refused', async () => {
    const fields: [string, string | null][] = [];
    const audited: string[] = [];
    const paused = await holdForQuota(
      {
        sending: async () => [
          { transactionId: 'c1', tenantId: 't1' },
          { transactionId: 'c2', tenantId: 't2' },
        ],
        pause: async (id) => id === 'c1',
        setHeldReason: async (id, reason) => void fields.push([id, reason]),
        audit: async (e) => void audited.push(`${e.tenantId}/${e.transactionId}`),
        log: { warn() {}, error() {} },
      },
      { max24HourSend: 200, maxSendRate: 1, sentLast24Hours: 190 },
    );
    expect(paused).toBe(1);
    const reason = 'SES 24-hour quota: 190 of 200 sent in the last 24 hours; resume once the quota allows';
    expect(fields).toEqual([
      ['c1', reason],
      ['c2', reason],
      ['c2', null],
    ]);
    expect(audited).toEqual(['t1/c1']);
  });

  it('acts on a reading only in the worker whose turn it is', async () => {
    let paused = 0;
    const deps = {
      sending: async () => [{ transactionId: 'c1', tenantId: 't1' }],
      pause: async () => ((paused += 1), true),
      setHeldReason: async () => undefined,
      audit: async () => undefined,
      log: { warn() {}, error() {} },
    };
    const quota = { max24HourSend: 200, maxSendRate: 1, sentLast24Hours: 190 };
    expect(await holdForQuota({ ...deps, claim: async () => false }, quota)).toBe(0);
    expect(paused).toBe(0);
    expect(await holdForQuota({ ...deps, claim: async () => true }, quota)).toBe(1);
  });

  it('has the guard hold against AWS by default and observe locally', () => {
    expect(loadConfig({}).REPUTATION_GUARD).toBeUndefined();
    expect(loadConfig({ REPUTATION_GUARD: 'hold', REPUTATION_COMPLAINT_RATE: '0.05' })).toMatchObject({
      REPUTATION_GUARD: 'hold',
      REPUTATION_COMPLAINT_RATE: 0.05,
      REPUTATION_BOUNCE_RATE: 0.05,
      REPUTATION_MIN_SENDS: 500,
      REPUTATION_WINDOW_SECONDS: 86_400,
    });
  });
});
