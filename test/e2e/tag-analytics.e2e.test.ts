// Issue 15, item 1: analytics by campaign tag, end to end. A genuine OpenSearch node (started
// here), SES events flowing through the local SNS pipeline into the API's event path, which
// indexes each document with its campaign's tags (read once per campaign from DynamoDB); then
// GET /api/v1/analytics?tag= counts exactly the tagged campaigns' messages and events, and a
// campaign's own analytics are unchanged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenSearch } from '../../src/local/opensearch';
import { freePort } from '../../src/local/ports';
import { uid } from '../integration/fixtures';
import { TENANTS, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

const dataDir = mkdtempSync(join(tmpdir(), 'email-engine-opensearch-'));
let node: Awaited<ReturnType<typeof startOpenSearch>> | undefined;

// Registered before the engine's hooks: the node starts first and stops last.
beforeAll(async () => {
  node = await startOpenSearch({ port: await freePort(), dataDir });
}, 300_000);
afterAll(async () => {
  await node?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});
const engine = useEngine({
  events: 'connect',
  config: () => ({
    OPENSEARCH_URL: node!.url,
    OPENSEARCH_INDEX_PREFIX: `tags${Date.now()}-`,
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
  }),
});
const api = engine.api;
const SIM = 'simulator.amazonses.com';
const run = uid();

/**
 * A campaign of these recipients. Every campaign's first row is message `b00001-r000000001`:
 * the campaigns here repeat each other's message ids on purpose (their analytics documents were
 * once keyed by that id alone and overwrote each other).
 */
async function campaign(recipients: string[], tags: string[] | undefined) {
  const templateId = await uploadTemplate(api, { subject: 'News', html: '<p>News</p>' });
  const fileId = await uploadCsv(api, ['email', ...recipients].join('\n'));
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, ...(tags ? { tags } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.transaction_id as string;
}

describe('analytics by campaign tag', () => {
  it('counts the events of every campaign with the tag, and of no other', async () => {
    const spring = `spring-${run}`;
    const one = await campaign(
      Array.from({ length: 4 }, (_, i) => `success+open${run}a${i}@${SIM}`),
      [spring, 'newsletter'],
    );
    const two = await campaign(
      [...Array.from({ length: 2 }, (_, i) => `success${run}b${i}@${SIM}`), `bounce+${run}b@${SIM}`],
      ['newsletter', spring],
    );
    const untagged = await campaign(
      Array.from({ length: 3 }, (_, i) => `success${run}c${i}@${SIM}`),
      undefined,
    );
    const other = await campaign(
      Array.from({ length: 2 }, (_, i) => `success${run}d${i}@${SIM}`),
      [`fall-${run}`],
    );
    for (const id of [one, two, untagged, other]) await waitForStatus(api, id, ['COMPLETED'], 180_000);

    // 7 sent; 6 delivered, 1 bounced; 4 opened: 18 events.
    let last: any;
    const tagged = await waitFor(
      'tag analytics to catch up',
      async () => {
        const res = await api.get(`/api/v1/analytics?tag=${spring}&interval=1m`);
        last = res.body;
        return res.status === 200 && res.body.totals.events === 18 && res.body.totals.messages === 7 && res.body.indexing_backlog === 0
          ? res.body
          : undefined;
      },
      90_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}; last: ${JSON.stringify(last)}`);
    });
    expect(tagged.tag).toBe(spring);
    expect(tagged.totals).toMatchObject({ messages: 7, sent: 7, delivered: 6, bounced: 1, opened: 4, events: 18 });
    expect(tagged.bounce_subtypes).toEqual([{ bounce_type: 'Permanent', bounce_subtype: 'General', count: 1 }]);
    expect(tagged.by_domain).toEqual([expect.objectContaining({ domain: SIM, messages: 7, sent: 7 })]);

    // The untagged campaign, and the one with another tag, are in neither tag's figures.
    const fall = await waitFor('the other tag', async () => {
      const res = await api.get(`/api/v1/analytics?tag=fall-${run}`);
      return res.body.totals?.events === 4 ? res.body : undefined;
    });
    expect(fall.totals).toMatchObject({ messages: 2, sent: 2, delivered: 2 });
    // A campaign's own analytics are as before.
    const own = (await api.get(`/api/v1/campaigns/${two}/analytics`)).body;
    expect(own.totals).toMatchObject({ messages: 3, sent: 3, delivered: 2, bounced: 1 });

    // Another tenant's analytics by the same tag are empty: tags are counted per tenant.
    const b = await engine.apiFor(TENANTS.b.apiKey).get(`/api/v1/analytics?tag=${spring}`);
    expect(b.status).toBe(200);
    expect(b.body.totals).toMatchObject({ messages: 0, events: 0 });
  });

  it('refuses a missing or malformed tag and unknown parameters', async () => {
    for (const query of ['', '?tag=', '?tag=has%20space', '?tag=a&tag=b', '?tag=ok&interval=2m', '?tag=ok&top=0', '?tag=ok&other=1']) {
      const res = await api.get(`/api/v1/analytics${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
  });
});
