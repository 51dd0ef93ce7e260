// Analytics documents with their campaign's tags (src/events/campaign-tags.ts): one read per
// campaign, documents in the order they came, a failed read tried again, a bounded cache. The
// store is a stand-in at the Transactions port (the real path runs in test/e2e/tag-analytics).
import { describe, expect, it } from 'vitest';
import type { EmailEventDoc, EmailMessageDoc } from '../../src/adapters/opensearch';
import type { TransactionRecord } from '../../src/adapters/dynamo/types';
import { CampaignTagCache, withCampaignTags } from '../../src/events/campaign-tags';
import { createLogger } from '../../src/logging';

const log = createLogger({ component: 'test' }, 'error');

function store(tags: Record<string, string[] | undefined>, failFirst = new Set<string>()) {
  const reads: string[] = [];
  return {
    reads,
    getTransaction: async (_tenant: string | undefined, id: string) => {
      reads.push(id);
      await new Promise((r) => setTimeout(r, 5));
      if (failFirst.delete(id)) throw new Error('throttled');
      return { transaction_id: id, tags: tags[id] } as TransactionRecord;
    },
  };
}

const event = (txn: string, n: number) => ({ id: `e${n}`, transaction_id: txn, message_id: `m${n}` }) as EmailEventDoc;
const message = (txn: string, n: number) => ({ id: `m${n}`, transaction_id: txn }) as EmailMessageDoc;
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('campaign tags on analytics documents', () => {
  it('reads each campaign once and adds its tags to both documents, in the order they came', async () => {
    const s = store({ t1: ['spring', 'vip'], t2: undefined });
    const added: [EmailEventDoc | undefined, EmailMessageDoc | undefined][] = [];
    const index = withCampaignTags(new CampaignTagCache(s, log), (e, m) => added.push([e, m]));
    for (let n = 0; n < 5; n++) index(event('t1', n), n % 2 === 0 ? message('t1', n) : undefined);
    index(event('t2', 9), message('t2', 9));
    await settle();
    expect(s.reads).toEqual(['t1', 't2']);
    expect(added.map(([e]) => e?.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e9']);
    for (const [e, m] of added.slice(0, 5)) {
      expect(e?.tags).toEqual(['spring', 'vip']);
      if (m) expect(m.tags).toEqual(['spring', 'vip']);
    }
    expect(added[1]![1]).toBeUndefined();
    // A campaign without tags: documents as they were, no empty field.
    expect(added[5]).toEqual([event('t2', 9), message('t2', 9)]);
  });

  it('indexes without tags when the read fails, and reads again next time', async () => {
    const s = store({ t1: ['a'] }, new Set(['t1']));
    const added: (EmailEventDoc | undefined)[] = [];
    const index = withCampaignTags(new CampaignTagCache(s, log), (e) => added.push(e));
    index(event('t1', 1), undefined);
    await settle();
    index(event('t1', 2), undefined);
    await settle();
    expect(s.reads).toEqual(['t1', 't1']);
    expect(added.map((e) => e?.tags)).toEqual([undefined, ['a']]);
  });

  it('keeps at most `max` campaigns, dropping the least recently used', async () => {
    const s = store({ a: ['x'], b: ['y'], c: ['z'] });
    const cache = new CampaignTagCache(s, log, 2);
    await cache.tagsOf('a');
    await cache.tagsOf('b');
    await cache.tagsOf('a'); // a is now the most recent
    await cache.tagsOf('c'); // drops b
    await cache.tagsOf('a');
    await cache.tagsOf('b');
    expect(s.reads).toEqual(['a', 'b', 'c', 'b']);
  });
});
