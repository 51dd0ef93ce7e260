// The SNS endpoint under duplicated, shuffled and hostile input: every event posted twice
// (as a new SNS message and as a redelivery), in random order, plus events for unknown
// messages, ends in exactly the state the events describe; forged or foreign messages get
// 403 and change nothing.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sesEventsFor } from '../../src/local/event-source';
import type { SnsMessage } from '../../src/domain/sns-message';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';
import { postSnsMessage, signedNotification } from '../support/sns';

// Stands in for SNS's SubscribeURL: the endpoint confirms a subscription by fetching it.
const confirmations: string[] = [];
const snsConfirm = createServer((req, res) => {
  confirmations.push(req.url ?? '');
  res.end('<ConfirmSubscriptionResponse/>');
});
beforeAll(() => new Promise<void>((r) => snsConfirm.listen(0, '127.0.0.1', () => r())));
afterAll(() => new Promise<void>((r) => snsConfirm.close(() => r())));
const engine = useEngine({
  events: 'signer', // this test posts the events itself
  config: (events) => ({
    SNS_TRUSTED_CERT_URLS: `${events.SNS_TRUSTED_CERT_URLS},http://127.0.0.1:${(snsConfirm.address() as { port: number }).port}/confirm`,
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
  }),
});
const api = engine.api;

const post = (message: SnsMessage | string) => postSnsMessage(engine.url, message);
const notification = (event: unknown) => signedNotification(engine.pipeline.signer, event);
function shuffle<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('SNS subscription', () => {
  it('confirms a signed SubscriptionConfirmation by visiting its SubscribeURL, and refuses an unsigned one', async () => {
    const confirmUrl = engine.config.SNS_TRUSTED_CERT_URLS[1]!;
    const fields = {
      Type: 'SubscriptionConfirmation' as const,
      MessageId: randomUUID(),
      TopicArn: engine.pipeline.signer.topicArn,
      Message: 'You have chosen to subscribe to the topic.',
      Timestamp: new Date().toISOString(),
      Token: 'token-123',
      SubscribeURL: `${confirmUrl}?Action=ConfirmSubscription&Token=token-123`,
    };
    const res = await post(engine.pipeline.signer.sign(fields, '2'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ confirmed: true });
    expect(confirmations).toEqual(['/confirm?Action=ConfirmSubscription&Token=token-123']);
    const forged = { ...engine.pipeline.signer.sign(fields, '2'), SubscribeURL: 'https://attacker.example.com/confirm' };
    expect((await post(forged)).status).toBe(403);
    expect(confirmations).toHaveLength(1);
    const bye = engine.pipeline.signer.sign({ ...fields, Type: 'UnsubscribeConfirmation', MessageId: randomUUID() });
    expect((await post(bye)).status).toBe(200);
  });
});

describe('SES events posted twice, shuffled, and forged', () => {
  it('ends in the same exact state, and forged messages change nothing', async () => {
    const run = Date.now();
    const recipients = [
      ...Array.from({ length: 5 }, (_, i) => `success+${run}x${i}@simulator.amazonses.com`),
      ...Array.from({ length: 4 }, (_, i) => `success+click${run}x${i}@simulator.amazonses.com`),
      ...Array.from({ length: 3 }, (_, i) => `bounce+${run}x${i}@simulator.amazonses.com`),
      ...Array.from({ length: 2 }, (_, i) => `complaint+${run}x${i}@simulator.amazonses.com`),
    ];
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: await uploadCsv(api, ['email', ...recipients].join('\n')),
    });
    const id = started.body.transaction_id as string;
    await waitForStatus(api, id, ['SENT']);
    const mails = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
    expect(mails).toHaveLength(recipients.length);
    const events = mails.flatMap((mail) => sesEventsFor(mail));

    // Forged: a Bounce turned into a Delivery after signing; a foreign topic; an untrusted certificate.
    const bounceEvent = events.find((e) => e.eventType === 'Bounce')!;
    const signed = notification(bounceEvent);
    const forged = { ...signed, Message: signed.Message.replace('"Bounce"', '"Delivery"') };
    const forgedRes = await post(forged);
    expect(forgedRes.status).toBe(403);
    expect(((await forgedRes.json()) as any).error.code).toBe('BAD_SIGNATURE');
    const foreign = engine.pipeline.signer.sign({
      Type: 'Notification',
      MessageId: randomUUID(),
      TopicArn: 'arn:aws:sns:us-east-1:999999999999:other',
      Message: JSON.stringify(bounceEvent),
      Timestamp: new Date().toISOString(),
    });
    expect((await post(foreign)).status).toBe(403);
    expect((await post({ ...signed, SigningCertURL: 'https://evil.example.com/cert.pem' })).status).toBe(403);
    expect((await post('{"not": "sns"}')).status).toBe(400);
    const untouched = await api.get(`/api/v1/campaigns/${id}/status`);
    expect(untouched.body.counts).toMatchObject({ delivered: 0, bounced: 0, complained: 0 });
    expect(untouched.body.status).toBe('SENT');

    // Every event twice with new SNS ids (SES duplicates), some redelivered with the same id, shuffled,
    // plus events for messages the engine never sent.
    const unknown = events
      .slice(0, 3)
      .map((e) => ({ ...e, mail: { ...(e.mail as object), messageId: `unknown-${randomUUID()}`, tags: {}, headers: [] } }));
    const first = events.map((e) => notification(e));
    const posts = shuffle([...first, ...events.map((e) => notification(e)), ...first.slice(0, 10), ...unknown.map((e) => notification(e))]);
    const statuses = await Promise.all(posts.map(async (m) => (await post(m)).status));
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    const final = await waitForStatus(api, id, ['COMPLETED'], 60_000);
    expect(final.counts).toMatchObject({ sent: 14, delivered: 11, bounced: 3, complained: 2, opened: 4, clicked: 4, failed: 0 });
    const byStatus = async (status: string) => (await api.get(`/api/v1/campaigns/${id}/messages?status=${status}`)).body.items.length;
    expect(await byStatus('DELIVERED')).toBe(5);
    expect(await byStatus('CLICKED')).toBe(4);
    expect(await byStatus('BOUNCED')).toBe(3);
    expect(await byStatus('COMPLAINED')).toBe(2);
    const clicked = (await api.get(`/api/v1/campaigns/${id}/messages?status=CLICKED&limit=1`)).body.items[0];
    const history = (await api.get(`/api/v1/campaigns/${id}/messages/${clicked.message_id}`)).body.status_history;
    // Each event recorded once, whatever order it came in.
    expect(history.map((h: any) => h.event ?? h.status).sort()).toEqual(
      ['CLICK', 'CREATED', 'DELIVERY', 'OPEN', 'SEND', 'SENDING', 'SENT'].sort(),
    );
  });
});
