// Issue 14, item 11, end to end over HTTP on the local stack (with a genuine OpenSearch node of
// its own): a recipient in a campaign (with row data, a rejected duplicate row, engagement
// events, a suppression) is erased with DELETE /api/v1/recipients/{email}. Afterwards the whole
// DynamoDB table, every OpenSearch index and every S3 object are searched for the address: only
// the other tenant's copy of it is left, and for this tenant only its hash. The campaign's counts
// stand, a later campaign does not mail the address, and subject access shows before and after.
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useOpenSearchNode } from '../support/opensearch-node';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createAwsClients } from '../../src/adapters/aws';
import { messageDocId } from '../../src/adapters/opensearch';
import { ObjectStore } from '../../src/adapters/s3';
import { ERASED_ADDRESS } from '../../src/domain/erasure';
import {
  header,
  sesInbox,
  TENANTS,
  uploadCsv,
  uploadTemplate,
  useEngine,
  waitFor,
  waitForStatus,
  type ApiClient,
  type ApiResponse,
} from '../support/harness';

const node = useOpenSearchNode('erasure');
const engine = useEngine({
  events: 'connect',
  temporal: true,
  config: () => ({
    OPENSEARCH_URL: node.url,
    OPENSEARCH_INDEX_PREFIX: `erasure${Date.now()}-`,
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
    ERASURE_SETTLE_SECONDS: '3',
    ERASURE_POLL_SECONDS: '1',
    // Campaigns other test files left PROCESSING do not hold this file's erasures for long.
    ERASURE_MAX_WAIT_SECONDS: '60',
    RETENTION_SWEEP_INTERVAL_SECONDS: '0',
  }),
});
const api = engine.api;
const apiB = engine.apiFor(TENANTS.b.apiKey);

const run = randomUUID().slice(0, 8);
// Delivery, Open and Click events (the local event source's simulator label).
const target = `success+click-erase-${run}@simulator.amazonses.com`;
const hash = createHash('sha256').update(target).digest('hex');
const kept = [`success+open-keep-${run}@simulator.amazonses.com`, `reader-${run}@example.org`] as const;
const recipientPath = `/api/v1/recipients/${encodeURIComponent(target)}`;
const template = { subject: 'Hello {{ first_name }}', html: '<p>Hi {{ first_name }} from {{ city }}</p>' };
const mentions = (value: unknown, needle: string) => JSON.stringify(value).toLowerCase().includes(needle.toLowerCase());

async function completedCampaign(client: ApiClient, csv: string, from?: string) {
  const templateId = await uploadTemplate(client, { ...template, ...(from ? { from } : {}) });
  const fileId = await uploadCsv(client, csv);
  const started = await client.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId });
  expect(started.status).toBe(202);
  const id = started.body.transaction_id as string;
  const status = await waitForStatus(client, id, ['COMPLETED', 'FAILED'], 150_000);
  expect(status.status).toBe('COMPLETED');
  return { id, status };
}

async function scanTable(): Promise<Record<string, unknown>[]> {
  const { doc } = createAwsClients(engine.config);
  const items: Record<string, unknown>[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new ScanCommand({ TableName: engine.config.DYNAMODB_TABLE, ExclusiveStartKey: cursor }));
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  doc.destroy();
  return items;
}

/** Every object of the bucket, as text. */
async function s3Objects(): Promise<{ key: string; text: string }[]> {
  const { s3 } = createAwsClients(engine.config);
  const store = new ObjectStore(s3, engine.config.S3_BUCKET);
  const out: { key: string; text: string }[] = [];
  for await (const object of store.list('')) out.push({ key: object.key, text: await store.getText(object.key) });
  s3.destroy();
  return out;
}

/** Every document of every index of this file's node (its own node: no other test writes there). */
async function openSearchDocuments(): Promise<{ _index: string; _id: string; _source: Record<string, unknown> }[]> {
  await fetch(`${node.url}/_refresh`, { method: 'POST' });
  const res = await fetch(`${node.url}/_search?size=10000`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { match_all: {} } }),
  });
  return ((await res.json()) as { hits: { hits: { _index: string; _id: string; _source: Record<string, unknown> }[] } }).hits.hits;
}

describe('erasing a recipient', () => {
  it('needs recipients:read to look and recipients:write to erase, and refuses bad input with the right status', async () => {
    const created = await api.post('/api/v1/api-keys', { name: `reader ${run}`, scopes: ['recipients:read'] });
    expect(created.status).toBe(201);
    const reader = engine.apiFor(created.body.secret as string);
    expect((await reader.get(recipientPath)).status).toBe(200);
    const refused = await reader.delete(recipientPath);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', details: { scope: 'recipients:write' } });
    expect((await api.get('/api/v1/recipients/not-an-address')).body.error.code).toBe('INVALID_EMAIL');
    expect((await api.delete('/api/v1/recipients/not-an-address')).status).toBe(400);
    expect((await api.get('/api/v1/recipients/erasures/er_0123')).status).toBe(404);
    expect((await api.get(`${recipientPath}?cursor=not-a-cursor`)).body.error.code).toBe('INVALID_CURSOR');
    // Retention: the defaults, and no setting below the engine's minimum (a day) or of the wrong shape.
    expect((await api.get('/api/v1/recipients/retention')).body).toEqual({
      retention_days: 365,
      upload_retention_days: 30,
      tenant_setting: { retention_days: null, upload_retention_days: null },
      defaults: { retention_days: 365, upload_retention_days: 30, minimum_days: 1 },
    });
    const short = await api.put('/api/v1/recipients/retention', { retention_days: 0.5 });
    expect(short.status).toBe(422);
    expect(short.body.error).toMatchObject({ code: 'RETENTION_TOO_SHORT', details: { fields: ['retention_days'] } });
    expect((await api.put('/api/v1/recipients/retention', { retention_days: 'a year' })).status).toBe(400);
    expect((await reader.get('/api/v1/recipients/retention')).status).toBe(200);
  });

  it("erases the address everywhere for the tenant, keeps only its hash, and the campaign's figures stand", async () => {
    // The other tenant holds the same address, with its own data. (At row 10: analytics name a
    // message document by the message id alone, and every campaign's first rows have the same ids.)
    const fillers = Array.from({ length: 9 }, (_, i) => `filler-${i}-${run}@example.org,F${i},Fen`);
    const bCsv = ['email,first_name,city', ...fillers, `${target},Bea-${run},Bern`].join('\n');
    const b = await completedCampaign(apiB, bCsv, `sender@${TENANTS.b.senders[0]}`);

    const csv = [
      'email,first_name,city',
      `${target},Ada-${run},Lovelace-${run}`,
      `${kept[0]},Bob,Bath`,
      `${kept[1]},Cy,Cork`,
      // The same person again, in capitals: a rejected row (DUPLICATE) that carries the address.
      `${target.toUpperCase()},Ada-${run},Again`,
    ].join('\n');
    const a = await completedCampaign(api, csv);
    expect(a.status.counts).toMatchObject({ invalid: 1, sent: 3, delivered: 3, opened: 2, clicked: 1 });
    const errors = await api.get(`/api/v1/campaigns/${a.id}/errors`);
    expect(errors.body.items).toEqual([{ row: 4, email: target.toUpperCase(), code: 'DUPLICATE', message: expect.any(String) }]);
    expect((await api.put(`/api/v1/suppressions/${encodeURIComponent(target)}`, { reason: 'MANUAL' })).status).toBe(200);

    // Subject access before: the message with its row data, the rejected row, the suppression, analytics.
    const before = await waitFor('analytics of the recipient', async () => {
      const res = await api.get(recipientPath);
      // Send, Delivery, Open, Click: four event documents, and the message document.
      return res.body.analytics?.event_documents === 4 && res.body.analytics.message_documents === 1 ? res.body : undefined;
    });
    expect(before).toMatchObject({
      email: target,
      recipient_hash: hash,
      suppression: { reason: 'MANUAL' },
      erasure: null,
      next_cursor: null,
    });
    expect(before.messages).toEqual([
      expect.objectContaining({
        transaction_id: a.id,
        recipient_email: target,
        status: 'CLICKED',
        placeholder_data: { first_name: `Ada-${run}`, city: `Lovelace-${run}` },
      }),
    ]);
    const messageId = before.messages[0].message_id as string;
    expect(before.rejected_rows).toEqual([expect.objectContaining({ transaction_id: a.id, row: 4, code: 'DUPLICATE' })]);
    const analyticsBefore = await waitFor('campaign analytics', async () => {
      const res = await api.get(`/api/v1/campaigns/${a.id}/analytics`);
      return res.body.totals?.events === 3 * 2 + 2 + 1 && res.body.totals.clicked === 1 ? res.body : undefined;
    });
    // What the address leaves in the stores before: its bytes in the tenant's CSVs, its domain and SES id in OpenSearch.
    expect(
      (await s3Objects()).filter((o) => o.key.includes(`/${TENANTS.a.tenantId}/`) && mentions(o.text, target)).length,
    ).toBeGreaterThanOrEqual(2);
    const ofMessage = (d: { _id: string; _source: Record<string, unknown> }) =>
      d._source.transaction_id === a.id && (d._id === messageDocId(a.id, messageId) || d._source.message_id === messageId);
    const docsBefore = (await openSearchDocuments()).filter(ofMessage);
    expect(docsBefore).toHaveLength(5);
    expect(docsBefore.find((d) => d._id === messageDocId(a.id, messageId))!._source).toMatchObject({
      recipient_domain: 'simulator.amazonses.com',
    });

    // The erasure: a receipt now, the same one for a repeat while it runs.
    const receipt = await api.delete(recipientPath);
    expect(receipt.status).toBe(202);
    expect(receipt.body).toMatchObject({
      recipient_hash: hash,
      status: 'PENDING',
      requests: 1,
      status_url: `/api/v1/recipients/erasures/${receipt.body.erasure_id}`,
    });
    const again = await api.delete(recipientPath);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ erasure_id: receipt.body.erasure_id, requested_at: receipt.body.requested_at, requests: 2 });
    const done = await waitFor(
      'the erasure',
      async () => {
        const res = await api.get(receipt.body.status_url);
        return res.body.status === 'COMPLETED' ? res.body : undefined;
      },
      120_000,
    );
    console.log('[figures] erasure record:', JSON.stringify(done.stores));
    expect(done.stores).toEqual({
      suppression: { hash_entry: true, address_entry_removed: true },
      analytics: { event_documents_deleted: 4, message_documents_anonymised: 1 },
      // The upload and the campaign's pinned copy, two rows (the message's and the duplicate's) each.
      files: { checked: expect.any(Number), rewritten: 2, deleted: 0, rows_removed: 4 },
      messages: { erased: 1, suppressed_before_send: 0 },
      rejected_rows: { erased: 1 },
    });
    // Tenant b cannot see tenant a's erasure.
    expect((await apiB.get(receipt.body.status_url)).status).toBe(404);

    // DynamoDB, the whole table: the address only in tenant b's items; tenant a keeps its hash
    // only as the erased recipient's suppression, the erasure record, the deleted suppression's
    // tombstone and the audit log.
    const items = await scanTable();
    const withAddress = items.filter((i) => mentions(i, target));
    expect(withAddress.length).toBeGreaterThan(0);
    expect(withAddress.filter((i) => i.tenant_id !== TENANTS.b.tenantId)).toEqual([]);
    const aWithHash = items.filter((i) => mentions(i, hash) && !mentions(i, TENANTS.b.tenantId));
    const partitions = new Set(aWithHash.map((i) => String(i.PK)));
    expect([...partitions].sort()).toEqual(
      [
        `ERASURE#${TENANTS.a.tenantId}`,
        `SUPPRESSION_DELETED#${TENANTS.a.tenantId}`,
        `SUPPRESSION_ERASED#${TENANTS.a.tenantId}`,
        ...(aWithHash.some((i) => String(i.PK).endsWith('#AUDIT')) ? [`TENANT#${TENANTS.a.tenantId}#AUDIT`] : []),
      ].sort(),
    );
    expect(items.find((i) => i.PK === `SUPPRESSION_ERASED#${TENANTS.a.tenantId}` && i.recipient_hash === hash)).toMatchObject({
      reason: 'ERASED',
      erasure_id: receipt.body.erasure_id,
    });
    // The message keeps its status and event times (the campaign's figures), nothing of the person.
    const erased = items.find((i) => i.message_id === messageId && i.transaction_id === a.id)!;
    expect(erased).toMatchObject({ recipient_email: ERASED_ADDRESS, status: 'CLICKED', erased_at: expect.any(String) });
    expect(erased).not.toHaveProperty('placeholder_data');
    expect(erased).not.toHaveProperty('ses_message_id');
    expect(erased).not.toHaveProperty('recipient_key');
    expect(erased).toHaveProperty('clicked_time');
    expect(mentions(erased, `Ada-${run}`) || mentions(erased, `Lovelace-${run}`)).toBe(false);

    // OpenSearch, every index: no event of the message, its message document without the domain.
    const docs = await openSearchDocuments();
    expect(docs.filter((d) => mentions(d, target))).toEqual([]);
    expect(docs.filter((d) => d._source.transaction_id === a.id && d._source.message_id === messageId)).toEqual([]);
    // Tenant b's documents of the same address stay.
    expect(docs.filter((d) => d._source.transaction_id === b.id && d._source.event_type === 'click')).toHaveLength(1);
    const messageDoc = docs.find((d) => d._id === messageDocId(a.id, messageId))!;
    expect(messageDoc._source).toMatchObject({ clicked: true, opened: true, delivered: true, tenant_id: TENANTS.a.tenantId });
    expect(messageDoc._source).not.toHaveProperty('recipient_domain');
    expect(messageDoc._source).not.toHaveProperty('ses_message_id');

    // S3, every object: the address only in tenant b's files; tenant a's keep everyone else, byte for byte.
    const objects = await s3Objects();
    expect(objects.filter((o) => mentions(o.text, target)).map((o) => o.key.split('/')[1])).toEqual(
      expect.arrayContaining([TENANTS.b.tenantId]),
    );
    expect(objects.filter((o) => mentions(o.text, target) && !o.key.includes(`/${TENANTS.b.tenantId}/`))).toEqual([]);
    const aFiles = objects.filter((o) => o.text.includes(kept[0]) && o.key.includes(`/${TENANTS.a.tenantId}/`));
    expect(aFiles).toHaveLength(2);
    for (const f of aFiles) expect(f.text).toBe(['email,first_name,city', `${kept[0]},Bob,Bath`, `${kept[1]},Cy,Cork`].join('\n') + '\n');

    // Temporal: the erasure's history never carried the address.
    const erasures = engine.temporal.workflow.list({ query: `WorkflowType = 'erasureWorkflow'` });
    let payloads = '';
    for await (const w of erasures) {
      if (!w.workflowId.startsWith(`erasure-${TENANTS.a.tenantId}-${receipt.body.erasure_id}`)) continue;
      const history = JSON.stringify(await engine.temporal.workflow.getHandle(w.workflowId, w.runId).fetchHistory());
      // Inputs and results are base64 JSON payloads.
      for (const [, data] of history.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)) payloads += Buffer.from(data!, 'base64').toString('utf8');
    }
    expect(payloads.includes(hash), 'the erasure names the person by hash').toBe(true);
    expect(payloads.toLowerCase().includes(target), 'the address in a workflow history').toBe(false);

    // The campaign's figures are as they were; its analytics keep their message counts.
    const status = (await api.get(`/api/v1/campaigns/${a.id}/status`)).body;
    expect(status.counts).toEqual(a.status.counts);
    expect(status.reconciliation).toEqual(a.status.reconciliation);
    const analyticsAfter = (await api.get(`/api/v1/campaigns/${a.id}/analytics`)).body;
    for (const n of ['sent', 'delivered', 'opened', 'clicked', 'messages'] as const)
      expect(analyticsAfter.totals[n], n).toBe(analyticsBefore.totals[n]);
    expect(analyticsAfter.totals.events).toBe(analyticsBefore.totals.events - 4);
    const shown = (await api.get(`/api/v1/campaigns/${a.id}/messages/${messageId}`)).body;
    expect(shown).toMatchObject({ recipient_email: ERASED_ADDRESS, status: 'CLICKED' });
    expect(shown).not.toHaveProperty('placeholder_data');

    // Subject access after: nothing but the erasure.
    const after = (await api.get(recipientPath)).body;
    expect(after).toMatchObject({
      suppression: null,
      erasure: { erasure_id: receipt.body.erasure_id },
      messages: [],
      rejected_rows: [],
      analytics: { available: true, message_documents: 0, event_documents: 0 },
      next_cursor: null,
    });

    // A later campaign with the address: suppressed by its hash, never mailed.
    const later = await completedCampaign(api, `email,first_name,city\n${target},Ada,Anywhere\n${kept[1]},Cy,Cork\n`);
    expect(later.status.counts).toMatchObject({ suppressed: 1, sent: 1 });
    const mails = (await sesInbox(engine.config)).filter((m) => header(m, 'X-Transaction-Id') === later.id);
    expect(mails.map((m) => m.destination.to).flat()).toEqual([kept[1]]);

    // Tenant b's data with the same address is untouched.
    const bAccess = (await apiB.get(recipientPath)).body;
    expect(bAccess.messages).toEqual([
      expect.objectContaining({
        transaction_id: b.id,
        recipient_email: target,
        placeholder_data: { first_name: `Bea-${run}`, city: 'Bern' },
      }),
    ]);
    expect(bAccess.erasure).toBeNull();
  });

  it('suppresses the messages of a campaign not yet sent, which then sends to everyone else; subject access pages', async () => {
    const person = `scheduled-${run}@example.org`;
    const other = `scheduled-other-${run}@example.org`;
    const personPath = `/api/v1/recipients/${encodeURIComponent(person)}`;
    const sendAt = new Date(Date.now() + 3600_000).toISOString();
    const scheduled = async (csv: string) => {
      const templateId = await uploadTemplate(api, template);
      const started = await api.post('/api/v1/campaigns', {
        template_id: templateId,
        file_id: await uploadCsv(api, csv),
        schedule: { send_at: sendAt },
      });
      await waitForStatus(api, started.body.transaction_id, ['SCHEDULED']);
      return started.body.transaction_id as string;
    };
    const first = await scheduled(`email,first_name,city\n${other},Oz,Oslo\n${person},Pat,Paris\n`);
    const second = await scheduled(`email,first_name,city\n${person},Pat,Perth\n`);

    // Subject access, a message a page: both campaigns' messages, then no cursor.
    const seen: string[] = [];
    let cursor: string | null = '';
    for (let pages = 0; cursor !== null; pages++) {
      expect(pages).toBeLessThan(4);
      const res: ApiResponse<Record<string, any>> = await api.get(`${personPath}?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.messages.length).toBeLessThanOrEqual(1);
      seen.push(...res.body.messages.map((m: any) => `${m.transaction_id}:${m.placeholder_data.city}`));
      cursor = res.body.next_cursor;
      if (cursor) {
        // A cursor names this person's items only: edited to another's, it is refused.
        const position = JSON.parse(Buffer.from(cursor, 'base64url').toString());
        const forged = Buffer.from(
          JSON.stringify({ ...position, m: { ...position.m, recipient_key: `${TENANTS.b.tenantId}#${hash}` } }),
        ).toString('base64url');
        expect((await api.get(`${personPath}?limit=1&cursor=${forged}`)).body.error?.code).toBe('INVALID_CURSOR');
      }
    }
    expect(seen.sort()).toEqual([`${first}:Paris`, `${second}:Perth`].sort());

    const receipt = (await api.delete(personPath)).body;
    const done = await waitFor('the erasure', async () => {
      const res = await api.get(receipt.status_url);
      return res.body.status === 'COMPLETED' ? res.body : undefined;
    });
    expect(done.stores.messages).toEqual({ erased: 0, suppressed_before_send: 2 });

    // The campaign goes on: the erased person's message is suppressed, the other is sent.
    expect((await api.post(`/api/v1/campaigns/${second}/cancel`)).status).toBe(202);
    expect((await api.post(`/api/v1/campaigns/${first}/send-now`)).status).toBe(202);
    const final = await waitForStatus(api, first, ['COMPLETED', 'FAILED'], 150_000);
    expect(final.counts).toMatchObject({ sent: 1, suppressed: 1, delivered: 1 });
    expect(final.reconciliation).toMatchObject({ balanced: true, valid_recipients: 2, suppressed: 1 });
    const mails = (await sesInbox(engine.config)).filter((m) => header(m, 'X-Transaction-Id') === first);
    expect(mails.map((m) => m.destination.to).flat()).toEqual([other]);
  });
});
