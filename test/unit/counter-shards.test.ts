// A campaign's event counters on shards (issue 18, item 2): where a message's events count, and
// what a reader sees from the record and the shards, under any split of the events among them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  COUNTER_SHARDS,
  counterShardOf,
  counterShardSk,
  isCounterShardSk,
  LAST_SHARD_SK,
  liveCounts,
  RECORD_SK,
  sumShards,
} from '../../src/adapters/dynamo/counter-shards';
import { COUNT_NAMES } from '../../src/adapters/dynamo/types';

describe('counter shards', () => {
  it('sort between the record and LAST_SHARD_SK, and are told apart from it', () => {
    for (const shard of [0, 1, 99, COUNTER_SHARDS - 1]) {
      const sk = counterShardSk(shard);
      expect(isCounterShardSk(sk)).toBe(true);
      expect(sk > RECORD_SK && sk < LAST_SHARD_SK).toBe(true);
    }
    expect(isCounterShardSk(RECORD_SK)).toBe(false);
    // Other items of the partition sort outside the range the record's read takes.
    for (const other of ['BATCH#b00001', 'ROWERROR#000001', 'METADATA'.slice(0, 7)])
      expect(other >= RECORD_SK && other <= LAST_SHARD_SK).toBe(false);
  });

  it('a message always counts on the same shard, and the ids of a campaign spread over all of them', () => {
    const perShard = new Array<number>(COUNTER_SHARDS).fill(0);
    const n = 100_000;
    let moved = 0;
    for (let i = 0; i < n; i++) {
      const id = `b${String(1 + Math.floor(i / 1000)).padStart(5, '0')}-r${String(i + 1).padStart(9, '0')}`;
      const shard = counterShardOf(id);
      if (counterShardOf(id) !== shard) moved += 1;
      perShard[shard]! += 1;
    }
    // (Checked once, not per id: 100,000 expect() calls took seconds beside other suites.)
    expect(moved).toBe(0);
    // Even spread: n / 256 = 391 each; the busiest well under 10 per 1,000 messages.
    expect(Math.min(...perShard)).toBeGreaterThan(0);
    expect((Math.max(...perShard) / n) * 1000).toBeLessThan(10);
    // 200,000 SHA-1s: about a second alone, more beside the property suites on two cores.
  }, 30_000);

  it('what a reader sees is the record plus every event, however the events split over the shards; a failure an event brought comes out of sent', () => {
    const counter = fc.constantFrom('delivered', 'bounced', 'complained', 'opened', 'clicked', 'failed');
    fc.assert(
      fc.property(
        fc.record({ sent: fc.nat(500), failed: fc.nat(50), suppressed: fc.nat(50) }),
        fc.array(fc.record({ shard: fc.nat(COUNTER_SHARDS - 1), counter }), { maxLength: 300 }),
        (record, events) => {
          const shards = new Map<number, Record<string, number>>();
          for (const e of events) {
            const item = shards.get(e.shard) ?? {};
            item[e.counter] = (item[e.counter] ?? 0) + 1;
            shards.set(e.shard, item);
          }
          const live = liveCounts(record, sumShards([...shards.values()]));
          const of = (name: string) => events.filter((e) => e.counter === name).length;
          for (const name of COUNT_NAMES) {
            if (name === 'sent') continue;
            expect(live[name]).toBe(Number((record as Record<string, number>)[name] ?? 0) + of(name));
          }
          expect(live.sent).toBe(Math.max(0, record.sent - of('failed')));
        },
      ),
    );
  });
});
