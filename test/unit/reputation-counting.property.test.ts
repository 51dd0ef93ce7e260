// The reputation guard's sharded counting (src/reputation), driven through the real SES event
// processor: for any stream of events (repeats included, as SNS and SES deliver them), any
// tenants, messages, times and shard counts, the window's sums are exactly the distinct
// counting events applied (sends, hard bounces, complaints), each on one shard of one bucket;
// a repeat never counts. The message store is a stand-in that applies each (message, effect)
// once, as the real one's conditional write does; the counters are a map keyed as the table's.
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createSesEventProcessor } from '../../src/events/process-ses-event';
import { sesEventSchema } from '../../src/domain/ses-event';
import { ReputationGuard, type ReputationCounters } from '../../src/reputation/guard';
import { COUNT_KINDS, noTotals, windowBuckets, type CountKind, type GuardSettings, type Totals } from '../../src/reputation/rates';
import type { MessageRecord } from '../../src/adapters/dynamo/types';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** Counters as the table keeps them: one cell per (tenant, shard, bucket); how often each was written. */
function memoryCounters() {
  const cells = new Map<string, Totals>();
  const writes = new Map<string, number>();
  const counters: ReputationCounters = {
    async increment(tenantId, kind, shard, bucket, _keep, n = 1) {
      const key = `${tenantId}|${shard}|${bucket}`;
      const cell = cells.get(key) ?? noTotals();
      cell[kind] += n;
      cells.set(key, cell);
      writes.set(key, (writes.get(key) ?? 0) + 1);
    },
    async totals(tenantId, shards, from, to) {
      const out = noTotals();
      for (const [key, cell] of cells) {
        const [t, shard, bucket] = key.split('|');
        if (t !== tenantId || Number(shard) >= shards || Number(bucket) < from || Number(bucket) > to) continue;
        for (const k of COUNT_KINDS) out[k] += cell[k];
      }
      return out;
    },
    getState: async () => undefined,
    hold: async () => true,
    release: async () => true,
  };
  return { counters, cells, writes };
}

const TYPES = ['Send', 'Delivery', 'BouncePermanent', 'BounceTransient', 'Complaint', 'Open'] as const;
type EventType = (typeof TYPES)[number];
const COUNTED: Partial<Record<EventType, CountKind>> = { Send: 'sends', BouncePermanent: 'bounces', Complaint: 'complaints' };

function sesEvent(type: EventType, txn: string, row: number) {
  const messageId = `b00001-r${String(row).padStart(9, '0')}`;
  const mail = {
    messageId: `ses-${txn}-${row}`,
    timestamp: '2026-01-01T00:00:00.000Z',
    tags: { transaction_id: [txn], batch_id: ['b00001'] },
    headers: [{ name: 'X-Message-Id', value: messageId }],
  };
  const body =
    type === 'Send'
      ? { eventType: 'Send' }
      : type === 'Delivery'
        ? { eventType: 'Delivery', delivery: { timestamp: '2026-01-01T00:00:01.000Z' } }
        : type === 'BouncePermanent'
          ? { eventType: 'Bounce', bounce: { bounceType: 'Permanent', bounceSubType: 'General' } }
          : type === 'BounceTransient'
            ? { eventType: 'Bounce', bounce: { bounceType: 'Transient', bounceSubType: 'MailboxFull' } }
            : type === 'Complaint'
              ? { eventType: 'Complaint', complaint: { complaintFeedbackType: 'abuse' } }
              : { eventType: 'Open', open: { timestamp: '2026-01-01T00:00:02.000Z' } };
  return sesEventSchema.parse({ mail, ...body });
}

const event = fc.record({
  tenant: fc.constantFrom('t-a', 't-b', 't-c'),
  txn: fc.constantFrom('x1', 'x2'),
  row: fc.integer({ min: 1, max: 40 }),
  type: fc.constantFrom(...TYPES),
  /** Milliseconds into the run: the events spread over several buckets. */
  at: fc.integer({ min: 0, max: 6 * 3_600_000 }),
});

const OBSERVING = {
  mode: 'observe',
  windowMs: 24 * 3_600_000,
  bucketMs: 3_600_000,
  minSends: 1,
  bounceRate: 0.05,
  complaintRate: 0.001,
} as const;

/** A guard that only observes, with stand-ins for everything but its counters. */
function observingGuard(
  counters: ConstructorParameters<typeof ReputationGuard>[0]['counters'],
  now: () => number,
  tuning: Pick<GuardSettings, 'debounceMs' | 'shards' | 'countFlushMs'>,
) {
  const settings: GuardSettings = { ...OBSERVING, ...tuning };
  return new ReputationGuard(
    {
      counters,
      campaigns: { listCampaigns: async () => ({ items: [] }) },
      store: { setTransactionFields: async () => undefined },
      temporal: {} as never,
      audit: { record: async () => undefined },
      registry: new Registry(),
      log: quiet,
      now,
    },
    settings,
  );
}

describe('reputation counting (sharded, through the event processor)', () => {
  it('sums to the distinct counting events applied; repeats never count', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 0, max: 3 }),
        // Without sums, and with sums (what one process counts for a counter within 20 ms is one write).
        fc.constantFrom(0, 20),
        async (events, shards, repeats, countFlushMs) => {
          // Every event again `repeats` times, interleaved later in the stream (redeliveries).
          const stream = [...events];
          for (let r = 0; r < repeats; r++) for (let i = 0; i < events.length; i += 2) stream.push(events[i]!);
          const { counters, cells } = memoryCounters();
          let now = 0;
          const guard = observingGuard(counters, () => now, { debounceMs: 60_000, shards, countFlushMs });
          // A message's tenant is fixed by its first event (a message belongs to one tenant).
          const tenantOf = new Map<string, string>();
          const applied = new Set<string>();
          const expected = new Map<string, Totals>();
          const processor = createSesEventProcessor({
            log: quiet as never,
            batches: { addBatchOutcome: async () => ({ outcomes: 0 }) as never },
            suppressions: { addSuppression: async () => undefined as never },
            onOutcome: () => undefined,
            messages: {
              findBySesMessageId: async () => undefined,
              async applyEffect(target, effect) {
                const key = `${target.transactionId}/${target.messageId}`;
                const before = { tenant_id: tenantOf.get(key)!, recipient_email: 'r@example.com', status: 'SENT' } as MessageRecord;
                const once = `${key}/${effect.kind}/${effect.kind === 'bounce' ? 'any' : ''}`;
                // The real store sets each effect's flag once: a second bounce of any type is a repeat.
                const first = !applied.has(once);
                applied.add(once);
                return { found: true, applied: first, before } as never;
              },
            },
            onApplied: (a) => void guard.noteApplied(a),
          });
          for (const e of stream) {
            const key = `${e.txn}/b00001-r${String(e.row).padStart(9, '0')}`;
            if (!tenantOf.has(key)) tenantOf.set(key, e.tenant);
            const tenant = tenantOf.get(key)!;
            const kindKey = `${key}/${e.type.startsWith('Bounce') ? 'bounce' : e.type}`;
            const firstOfKind = !expected.has(`seen:${kindKey}`);
            if (firstOfKind) expected.set(`seen:${kindKey}`, noTotals());
            const counted = COUNTED[e.type];
            if (firstOfKind && counted) {
              const t = expected.get(tenant) ?? noTotals();
              t[counted] += 1;
              expected.set(tenant, t);
            }
            now = e.at;
            expect(['applied', 'duplicate']).toContain(await processor(sesEvent(e.type, e.txn, e.row)));
          }
          await guard.close();
          const range = windowBuckets(10 * 3_600_000, 24 * 3_600_000, OBSERVING.bucketMs);
          for (const tenant of ['t-a', 't-b', 't-c']) {
            expect(await counters.totals(tenant, shards, range.from, range.to)).toEqual(expected.get(tenant) ?? noTotals());
          }
          // Every cell is on a shard the settings have.
          for (const key of cells.keys()) expect(Number(key.split('|')[1])).toBeLessThan(shards);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts an event once even when a write after its application fails and SNS delivers it again', async () => {
    // The suppression write (bounces, complaints) can fail after the message took the event; the
    // delivery then fails and SNS redelivers it, when the message store sees a repeat. The
    // reputation count must come from the first application. (A failing batch outcome count is
    // logged, never fails the delivery: it only adds noise here.)
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
        async (events, fails) => {
          const { counters } = memoryCounters();
          const guard = observingGuard(counters, () => 0, { debounceMs: 60_000, shards: 4 });
          const tenantOf = new Map<string, string>();
          const applied = new Set<string>();
          let step = 0;
          const failing = () => fails[step % fails.length] === true;
          const processor = createSesEventProcessor({
            log: quiet as never,
            batches: {
              addBatchOutcome: async () => {
                if (failing()) throw new Error('batch outcome write failed');
                return { outcomes: 0 } as never;
              },
            },
            suppressions: {
              addSuppression: async () => {
                if (failing()) throw new Error('suppression write failed');
                return undefined as never;
              },
            },
            onOutcome: () => undefined,
            messages: {
              findBySesMessageId: async () => undefined,
              async applyEffect(target, effect) {
                const key = `${target.transactionId}/${target.messageId}`;
                const before = { tenant_id: tenantOf.get(key)!, recipient_email: 'r@example.com', status: 'SENT' } as MessageRecord;
                const once = `${key}/${effect.kind}`;
                const first = !applied.has(once);
                applied.add(once);
                return { found: true, applied: first, before } as never;
              },
            },
            onApplied: (a) => void guard.noteApplied(a),
          });
          const expected = new Map<string, Totals>();
          const firsts = new Set<string>();
          const queue = [...events];
          // SNS gives up some day too: bounded, the counts are due from the first application anyway.
          for (let i = 0; i < queue.length && i < 1000; i++, step++) {
            const e = queue[i]!;
            const key = `${e.txn}/b00001-r${String(e.row).padStart(9, '0')}`;
            if (!tenantOf.has(key)) tenantOf.set(key, e.tenant);
            const kindKey = `${key}/${e.type.startsWith('Bounce') ? 'bounce' : e.type}`;
            const counted = COUNTED[e.type];
            if (!firsts.has(kindKey)) {
              firsts.add(kindKey);
              if (counted) {
                const t = expected.get(tenantOf.get(key)!) ?? noTotals();
                t[counted] += 1;
                expected.set(tenantOf.get(key)!, t);
              }
            }
            try {
              await processor(sesEvent(e.type, e.txn, e.row));
            } catch {
              // SNS delivers it again later (until a delivery succeeds; the failures are by step).
              queue.push(e);
            }
          }
          await guard.close();
          for (const tenant of ['t-a', 't-b', 't-c']) {
            expect(await counters.totals(tenant, 4, 0, 0)).toEqual(expected.get(tenant) ?? noTotals());
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('in sums, a burst of counts is a write per counter, and the totals stay exact', async () => {
    const { counters, writes } = memoryCounters();
    const guard = observingGuard(counters, () => 0, { debounceMs: 60_000, shards: 16, countFlushMs: 50 });
    const noted = Array.from({ length: 1000 }, (_, i) =>
      guard.noteApplied({
        tenantId: 't',
        kind: i % 10 === 0 ? 'complaint' : 'send',
        messageId: `txn/b00001-r${String(i).padStart(9, '0')}`,
      }),
    );
    await Promise.all(noted);
    await guard.close();
    // One sum for the sends and one for the complaints (a counter each), not 1,000 writes.
    expect([...writes.values()].reduce((a, b) => a + b, 0)).toBe(2);
    expect(await counters.totals('t', 16, 0, 0)).toEqual({ sends: 900, bounces: 0, complaints: 100 });
  });

  it('spreads one bucket over the shards (no item takes every write)', async () => {
    const { counters, writes } = memoryCounters();
    const guard = observingGuard(counters, () => 0, { debounceMs: 0, shards: 16 });
    const n = 16_000;
    for (let i = 0; i < n; i++)
      await guard.noteApplied({ tenantId: 't', kind: 'send', messageId: `txn/b00001-r${String(i).padStart(9, '0')}` });
    const perItem = [...writes.values()];
    console.log(
      `[figures] ${n} sends over 16 shards: ${perItem.length} items, busiest ${Math.max(...perItem)}, quietest ${Math.min(...perItem)}`,
    );
    expect(perItem).toHaveLength(16);
    // Each shard within 15 % of an even share.
    for (const w of perItem) expect(Math.abs(w - n / 16)).toBeLessThan(0.15 * (n / 16));
    expect(await counters.totals('t', 16, 0, 0)).toEqual({ sends: n, bounces: 0, complaints: 0 });
  });
});
