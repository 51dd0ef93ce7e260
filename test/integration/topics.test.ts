// Issue 15, item 7, the topic stores against DynamoDB Local: the per-tenant cap holds under
// concurrent creates, a topic suppression is found only for its own topic (never as a global
// one, never for a topic whose name it prefixes), and an erasure's sweep removes all of one
// address's topic suppressions and nobody else's.
import { afterAll, describe, expect, it } from 'vitest';
import { TopicTable } from '../../src/adapters/dynamo/topics';
import type { TopicSuppressionRecord } from '../../src/adapters/dynamo/types';
import { setupDeps, uid } from './fixtures';

const { deps, close } = setupDeps();
afterAll(() => close());
const topics = new TopicTable(deps.suppressions.doc, deps.suppressions.table);
const at = () => new Date().toISOString();
const optOut = (tenant: string, email: string, topic: string): TopicSuppressionRecord => ({
  tenant_id: tenant,
  email,
  topic,
  reason: 'UNSUBSCRIBED',
  created_at: at(),
});

describe('topic store', () => {
  it('creates at most the cap at once, and concurrent PUTs of one name create it once', async () => {
    const tenant = `topics-${uid()}`;
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => topics.putTopic(tenant, `t${i}`, { display_name: `T ${i}` }, 3)));
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(3);
    expect(results.filter((r) => r.outcome === 'limit')).toHaveLength(5);
    expect((await topics.listTopics(tenant, 100)).items).toHaveLength(3);

    const other = `topics-${uid()}`;
    const same = await Promise.all(Array.from({ length: 5 }, (_, i) => topics.putTopic(other, 'news', { display_name: `N ${i}` }, 2)));
    expect(same.filter((r) => r.outcome === 'created')).toHaveLength(1);
    expect(same.filter((r) => r.outcome === 'updated')).toHaveLength(4);
    // One place taken: a second topic still fits under a cap of two, a third does not.
    expect((await topics.putTopic(other, 'offers', { display_name: 'O' }, 2)).outcome).toBe('created');
    expect((await topics.putTopic(other, 'more', { display_name: 'M' }, 2)).outcome).toBe('limit');
  });

  it('a topic suppression holds back its own topic only, and is never a global suppression', async () => {
    const tenant = `topics-${uid()}`;
    const [left, stays] = [`left-${uid()}@example.com`, `stays-${uid()}@example.com`];
    expect(await topics.addTopicSuppression(optOut(tenant, left, 'news'))).toBe(true);
    expect(await topics.addTopicSuppression(optOut(tenant, left, 'news'))).toBe(false); // the first is kept
    const among = (topic?: string) => deps.suppressions.suppressedOrErasedAmong(tenant, [left, stays], topic);
    expect(await among('news')).toEqual(new Set([left]));
    expect(await among('news-2')).toEqual(new Set());
    expect(await among()).toEqual(new Set());
    expect(await deps.suppressions.getSuppression(tenant, left)).toBeUndefined();
    expect((await deps.suppressions.listSuppressions(tenant, 100)).items).toEqual([]);
    // An opt-in from before the suppression removes nothing; a later one removes it.
    expect(await topics.deleteTopicSuppression(tenant, 'news', left, '2000-01-01T00:00:00.000Z')).toBe(false);
    expect(await topics.deleteTopicSuppression(tenant, 'news', left, new Date(Date.now() + 1000).toISOString())).toBe(true);
    expect(await among('news')).toEqual(new Set());
  });

  it("an erasure's sweep removes every topic suppression of the address, and only of that address", async () => {
    const tenant = `topics-${uid()}`;
    const person = `p-${uid()}@example.com`;
    const neighbour = `${person}.au`; // shares the address as a prefix
    for (const topic of ['news', 'offers', 'updates']) await topics.addTopicSuppression(optOut(tenant, person, topic));
    await topics.addTopicSuppression(optOut(tenant, neighbour, 'news'));
    expect(await topics.deleteTopicSuppressionsOf(tenant, person)).toBe(3);
    const left = (await topics.listTopicSuppressions(tenant, 100)).items;
    expect(left.map((r) => [r.email, r.topic])).toEqual([[neighbour, 'news']]);
    expect((await topics.listTopicSuppressions(tenant, 100, undefined, 'offers')).items).toEqual([]);
  });
});
