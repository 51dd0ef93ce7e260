// Issue 15, item 7, over HTTP on the local stack: tenants' topics; a campaign names one; a topic
// unsubscribe (the page's "this topic", or the one-click POST) holds back only that topic's
// campaigns, at ingest and at send; "everything" and tokens without a topic suppress globally;
// SES Subscription events (signed SNS notifications) honour newTopicPreferences; tenant B sees
// and uses none of tenant A's topics.
import { describe, expect, it } from 'vitest';
import { createUnsubscribeToken } from '../../src/domain/unsubscribe-token';
import { sesEventsFor } from '../../src/local/event-source';
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
} from '../support/harness';
import { postSnsMessage, signedNotification } from '../support/sns';

const engine = useEngine({
  events: 'signer', // Subscription events are posted by the test itself
  config: { TOPICS_MAX_PER_TENANT: '4' },
  template: { subject: 'News', html: '<p>Hello</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>' },
});
const api = engine.api;
const apiB = engine.apiFor(TENANTS.b.apiKey);

const run = `${Date.now()}`;
const X = `news-${run}`;
const Y = `updates-${run}`;
const address = (label: string) => `${label}-${run}@example.com`;
const enc = encodeURIComponent;

/** Starts a campaign of the file's template to `emails`; `topic` and a later `send_at` when given. */
async function campaign(emails: string[], opts: { topic?: string; sendAt?: string; client?: ApiClient } = {}) {
  const client = opts.client ?? api;
  return client.post('/api/v1/campaigns', {
    template_id: engine.templateId,
    file_id: await uploadCsv(client, ['email', ...emails].join('\n')),
    ...(opts.topic ? { topic: opts.topic } : {}),
    ...(opts.sendAt ? { schedule: { send_at: opts.sendAt } } : {}),
  });
}

/** The campaign's mail to `email` in the SES emulator, once it is there. */
const mailOf = (transactionId: string, email: string) =>
  waitFor(`mail of ${transactionId}`, async () =>
    (await sesInbox(engine.config)).find((m) => header(m, 'X-Transaction-Id') === transactionId && JSON.stringify(m).includes(email)),
  );

/** The List-Unsubscribe link of the campaign's mail, pointed at the test's API. */
async function unsubscribeUrl(transactionId: string, email: string): Promise<string> {
  const mail = await mailOf(transactionId, email);
  expect(header(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
  const url = /^<(.+)>$/.exec(header(mail, 'List-Unsubscribe')!)![1]!;
  return url.replace(engine.config.PUBLIC_BASE_URL!, engine.url);
}

const postForm = (url: string, form: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });

/** Where the address stands: its global suppression and its suppression for each topic named. */
async function standing(email: string, topics: string[], client: ApiClient = api): Promise<Record<string, number>> {
  const global = (await client.get(`/api/v1/suppressions/${enc(email)}`)).status;
  const byTopic: Record<string, number> = {};
  for (const t of topics) byTopic[t] = (await client.get(`/api/v1/suppressions/${enc(email)}?topic=${t}`)).status;
  return { global, ...byTopic };
}

async function sentCampaign(email: string, topic?: string) {
  const started = await campaign([email], { topic });
  expect(started.status).toBe(202);
  const id = started.body.transaction_id as string;
  await waitForStatus(api, id, ['SENT', 'COMPLETED']);
  return id;
}

describe('topics', () => {
  it('are created, updated, listed and capped per tenant; tenant B sees none of A’s; a campaign names only its tenant’s', async () => {
    const created = await api.put(`/api/v1/topics/${X}`, { display_name: 'The newsletter', description: 'Monthly' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: X, display_name: 'The newsletter', description: 'Monthly' });
    const updated = await api.put(`/api/v1/topics/${X}`, { display_name: 'Our newsletter' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: X, display_name: 'Our newsletter', description: null, created_at: created.body.created_at });
    expect((await api.put(`/api/v1/topics/${Y}`, { display_name: 'Product updates' })).status).toBe(201);
    expect((await api.get(`/api/v1/topics/${X}`)).body.display_name).toBe('Our newsletter');
    const names = (await api.get('/api/v1/topics')).body.items.map((t: { name: string }) => t.name);
    expect(names).toEqual(expect.arrayContaining([X, Y]));

    // Bad input: the field named.
    const badName = await api.put('/api/v1/topics/Not%20A%20Name', { display_name: 'x' });
    expect(badName.status).toBe(400);
    expect(badName.body.error).toMatchObject({ code: 'INVALID_TOPIC_NAME', details: { field: 'name' } });
    expect((await api.put(`/api/v1/topics/${X}`, { display_name: '' })).status).toBe(400);
    expect((await api.put(`/api/v1/topics/${X}`, { display_name: 'x', colour: 'red' })).status).toBe(400);
    expect((await api.get(`/api/v1/topics/never-${run}`)).status).toBe(404);

    // A campaign with a topic the tenant never made, or with another tenant's: 422; a bad name: 400.
    const unknown = await campaign([address('u')], { topic: `never-${run}` });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error).toMatchObject({ code: 'TOPIC_NOT_FOUND', details: { field: 'topic' } });
    expect((await campaign([address('u')], { topic: 'Bad Name' })).status).toBe(400);

    // Tenant B: A's topics are not found, not listed, not usable.
    expect((await apiB.get(`/api/v1/topics/${X}`)).status).toBe(404);
    expect((await apiB.get('/api/v1/topics')).body.items.map((t: { name: string }) => t.name)).not.toContain(X);
    const templateB = await uploadTemplate(apiB, { from: `sender@${TENANTS.b.senders[0]}`, subject: 'B', html: '<p>B</p>' });
    const foreign = await apiB.post('/api/v1/campaigns', {
      template_id: templateB,
      file_id: await uploadCsv(apiB, `email\n${address('b')}\n`),
      topic: X,
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.error.code).toBe('TOPIC_NOT_FOUND');

    // The cap (4 here): B makes four, the fifth is refused, and changing one of the four still works.
    for (let i = 1; i <= 4; i++) expect((await apiB.put(`/api/v1/topics/b${i}-${run}`, { display_name: `B ${i}` })).status).toBe(201);
    const over = await apiB.put(`/api/v1/topics/b5-${run}`, { display_name: 'B 5' });
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: 'TOPIC_LIMIT_REACHED', details: { max: 4 } });
    expect((await apiB.put(`/api/v1/topics/b1-${run}`, { display_name: 'B one' })).status).toBe(200);
  }, 120_000);

  it('"this topic" on the page holds back that topic’s campaigns only, at send and at ingest', async () => {
    const reader = address('reader');
    // Two campaigns already ingested and waiting for their time when the reader leaves topic X
    // (an hour away: they are sent now once the reader has left).
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    const [waitingX, waitingY] = await Promise.all([campaign([reader], { topic: X, sendAt }), campaign([reader], { topic: Y, sendAt })]);
    for (const c of [waitingX, waitingY]) {
      expect(c.status).toBe(202);
      await waitForStatus(api, c.body.transaction_id, ['SCHEDULED']);
    }

    const first = await sentCampaign(reader, X);
    expect((await api.get(`/api/v1/campaigns/${first}/status`)).body.topic).toBe(X);
    const url = await unsubscribeUrl(first, reader);
    const pageRes = await fetch(url);
    expect(pageRes.status).toBe(200);
    const page = await pageRes.text();
    expect(page).toContain('<input type="hidden" name="scope" value="topic">');
    expect(page).toContain('<input type="hidden" name="scope" value="all">');
    expect(page).toContain('Unsubscribe from Our newsletter');
    expect(await standing(reader, [X])).toEqual({ global: 404, [X]: 404 }); // a GET changes nothing

    const left = await postForm(url, 'scope=topic');
    expect(left.status).toBe(200);
    expect(await left.text()).toContain('no more emails about Our newsletter');
    expect(await standing(reader, [X, Y])).toEqual({ global: 404, [X]: 200, [Y]: 404 });
    expect((await api.get(`/api/v1/suppressions/${enc(reader)}?topic=${X}`)).body).toMatchObject({
      email: reader,
      topic: X,
      reason: 'UNSUBSCRIBED',
    });
    // Listed under its topic, never in the global list.
    const topicList = (await api.get(`/api/v1/suppressions?topic=${X}&limit=1000`)).body.items;
    expect(topicList.map((s: { email: string }) => s.email)).toContain(reader);
    const globalList = (await api.get('/api/v1/suppressions?limit=1000')).body.items;
    expect(globalList.map((s: { email: string }) => s.email)).not.toContain(reader);

    // At send: X's waiting message is SUPPRESSED, Y's goes out.
    for (const c of [waitingX, waitingY]) expect((await api.post(`/api/v1/campaigns/${c.body.transaction_id}/send-now`)).status).toBe(202);
    await Promise.all([waitingX, waitingY].map((c) => waitForStatus(api, c.body.transaction_id, ['SENT', 'COMPLETED'], 180_000)));
    const messageOf = async (id: string) => (await api.get(`/api/v1/campaigns/${id}/messages`)).body.items[0];
    const heldBack = await messageOf(waitingX.body.transaction_id);
    expect(heldBack.status).toBe('SUPPRESSED');
    const detail = (await api.get(`/api/v1/campaigns/${waitingX.body.transaction_id}/messages/${heldBack.message_id}`)).body;
    expect(detail.status_history.at(-1)).toMatchObject({ status: 'SUPPRESSED', metadata: { checked: 'before_send' } });
    expect((await messageOf(waitingY.body.transaction_id)).status).toBe('SENT');
    await mailOf(waitingY.body.transaction_id, reader);
    const inbox = await sesInbox(engine.config);
    expect(inbox.filter((m) => header(m, 'X-Transaction-Id') === waitingX.body.transaction_id)).toHaveLength(0);

    // At ingest: a new X campaign leaves the reader out; one without a topic does not.
    const again = await campaign([reader], { topic: X });
    const final = await waitForStatus(api, again.body.transaction_id, ['SENT', 'COMPLETED', 'FAILED']);
    expect(final.counts).toMatchObject({ suppressed: 1, sent: 0 });
    const noTopic = await sentCampaign(reader);
    expect((await api.get(`/api/v1/campaigns/${noTopic}/status`)).body).toMatchObject({ topic: null, counts: { sent: 1 } });

    // Tenant B sees nothing of A's topic suppressions.
    expect(await standing(reader, [X], apiB)).toEqual({ global: 404, [X]: 404 });
    expect((await apiB.get(`/api/v1/suppressions?topic=${X}`)).body.items).toEqual([]);
  }, 300_000);

  it('one-click POST leaves the topic; "everything" and a token without a topic suppress globally', async () => {
    const oneClick = address('oneclick');
    const everything = address('everything');
    const oldToken = address('oldtoken');
    const [a, b, c] = await Promise.all([sentCampaign(oneClick, Y), sentCampaign(everything, Y), sentCampaign(oldToken, Y)]);

    expect((await postForm(await unsubscribeUrl(a, oneClick), 'List-Unsubscribe=One-Click')).status).toBe(200);
    expect(await standing(oneClick, [X, Y])).toEqual({ global: 404, [X]: 404, [Y]: 200 });
    // Subject access shows the topics the address left; erasing the person removes the address from them (the hash entry suppresses every topic).
    const access = (await api.get(`/api/v1/recipients/${enc(oneClick)}`)).body;
    expect(access.topic_suppressions).toEqual([expect.objectContaining({ topic: Y, reason: 'UNSUBSCRIBED' })]);
    expect((await api.delete(`/api/v1/recipients/${enc(oneClick)}`)).status).toBe(202);
    expect(await standing(oneClick, [Y])).toEqual({ global: 404, [Y]: 404 });

    expect((await postForm(await unsubscribeUrl(b, everything), 'scope=all')).status).toBe(200);
    expect(await standing(everything, [Y])).toEqual({ global: 200, [Y]: 404 });
    expect((await api.get(`/api/v1/suppressions/${enc(everything)}`)).body).toMatchObject({ reason: 'UNSUBSCRIBED' });

    // A link mailed before topics carries none: it unsubscribes from everything, as it always did.
    const message = (await api.get(`/api/v1/campaigns/${c}/messages`)).body.items[0];
    const token = createUnsubscribeToken(engine.config.UNSUBSCRIBE_SECRET!, {
      tenantId: TENANTS.a.tenantId,
      email: oldToken,
      transactionId: c,
      messageId: message.message_id,
    });
    const oldPage = await (await fetch(`${engine.url}/u/${token}`)).text();
    expect(oldPage).toContain('name="List-Unsubscribe" value="One-Click"');
    expect(oldPage).not.toContain('name="scope"');
    expect((await postForm(`${engine.url}/u/${token}`, 'List-Unsubscribe=One-Click')).status).toBe(200);
    expect(await standing(oldToken, [Y])).toEqual({ global: 200, [Y]: 404 });
  }, 300_000);

  it('SES Subscription events: OptOut of a topic is a topic suppression, OptIn removes it, unsubscribeAll is global', async () => {
    const topicReader = address('ses-topic');
    const allReader = address('ses-all');
    const [a, b] = await Promise.all([sentCampaign(topicReader, X), sentCampaign(allReader, X)]);
    const subscriptionEvent = async (id: string, email: string, at: Date, newTopicPreferences: Record<string, unknown>) => {
      const send = sesEventsFor(await mailOf(id, email)).find((e) => e.eventType === 'Send')!;
      const { send: _send, ...rest } = send as Record<string, unknown>;
      const event = {
        ...rest,
        eventType: 'Subscription',
        subscription: { contactList: 'engine', timestamp: at.toISOString(), source: 'UnsubscribeHeader', newTopicPreferences },
      };
      const res = await postSnsMessage(engine.url, signedNotification(engine.pipeline.signer, event));
      expect(res.status).toBe(200);
    };
    const t0 = Date.now();
    await subscriptionEvent(a, topicReader, new Date(t0), {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: X, subscriptionStatus: 'OptOut' }],
    });
    expect(await standing(topicReader, [X, Y])).toEqual({ global: 404, [X]: 200, [Y]: 404 });
    const message = (await api.get(`/api/v1/campaigns/${a}/messages`)).body.items[0];
    expect((await api.get(`/api/v1/campaigns/${a}/messages/${message.message_id}`)).body.status_history.at(-1).event).toBe('SUBSCRIPTION');

    // An opt-in older than the opt-out changes nothing; a later one removes the topic suppression.
    await subscriptionEvent(a, topicReader, new Date(t0 - 60_000), {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: X, subscriptionStatus: 'OptIn' }],
    });
    expect((await standing(topicReader, [X]))[X]).toBe(200);
    await subscriptionEvent(a, topicReader, new Date(t0 + 1000), {
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName: X, subscriptionStatus: 'OptIn' }],
    });
    expect(await standing(topicReader, [X])).toEqual({ global: 404, [X]: 404 });

    await subscriptionEvent(b, allReader, new Date(), { unsubscribeAll: true, topicSubscriptionStatus: [] });
    expect(await standing(allReader, [X])).toEqual({ global: 200, [X]: 404 });

    // Names are compared in lower case; an opt-out that could hold back nothing (a topic the
    // tenant does not have, or no topic name at all) fails safe: it leaves everything.
    const readers = { capitals: address('ses-caps'), unknown: address('ses-unknown'), invalid: address('ses-invalid') };
    const [c, d, e] = await Promise.all([
      sentCampaign(readers.capitals, X),
      sentCampaign(readers.unknown, X),
      sentCampaign(readers.invalid),
    ]);
    const optOut = (topicName: string) => ({
      unsubscribeAll: false,
      topicSubscriptionStatus: [{ topicName, subscriptionStatus: 'OptOut' }],
    });
    await subscriptionEvent(c, readers.capitals, new Date(), optOut(` ${X.toUpperCase()}`));
    await subscriptionEvent(d, readers.unknown, new Date(), optOut(`never-made-${run}`));
    await subscriptionEvent(e, readers.invalid, new Date(), optOut('Weekly Digest'));
    expect(await standing(readers.capitals, [X])).toEqual({ global: 404, [X]: 200 });
    expect(await standing(readers.unknown, [X])).toEqual({ global: 200, [X]: 404 });
    expect(await standing(readers.invalid, [X])).toEqual({ global: 200, [X]: 404 });
  }, 300_000);
});
