// Issue 14 item 5, on the local stack. A bounce or complaint suppresses its address once: when
// the tenant deletes that suppression, the same event delivered again (an SNS redelivery, the
// very same signed message, or SES publishing it twice) does not put it back; a new bounce or
// complaint, later than the deletion, does. And a signed message older than the replay window
// is refused (403, not retried by SNS) without touching anything.
import { afterAll, describe, expect, it } from 'vitest';
import { sesEventsFor } from '../../src/local/event-source';
import type { SnsMessage } from '../../src/domain/sns-message';
import type { Email } from 'aws-ses-v2-local/dist/store';
import { header, sesInbox, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';
import { postSnsMessage, signedNotification } from '../support/sns';

const engine = useEngine({ events: 'signer', config: { OUTCOME_POLL_SECONDS: '5', FINAL_STATE_DEADLINE_SECONDS: '120' } });
const api = engine.api;
const SIM = 'simulator.amazonses.com';
const run = `${Date.now()}`;
const bounced = `bounce+replay${run}@${SIM}`;
const complained = `complaint+replay${run}@${SIM}`;
const suppressionPath = (email: string) => `/api/v1/suppressions/${encodeURIComponent(email)}`;

/** Posts a signed SNS message; the endpoint must take it (200) and say what it did. */
async function deliver(message: SnsMessage): Promise<string> {
  const res = await postSnsMessage(engine.url, message);
  const body = (await res.json()) as { result?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.result!;
}

/** Sends a campaign to `recipients` and waits until SES has every email; returns them by recipient. */
async function campaignTo(recipients: string[]): Promise<Map<string, Email>> {
  const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
  const started = await api.post('/api/v1/campaigns', {
    template_id: templateId,
    file_id: await uploadCsv(api, ['email', ...recipients].join('\n')),
  });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const id = started.body.transaction_id as string;
  await waitForStatus(api, id, ['SENT']);
  const mails = (await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id);
  expect(mails).toHaveLength(recipients.length);
  return new Map(mails.map((m) => [m.destination.to[0]!, m]));
}

const suppressed = async (email: string) => (await api.get(suppressionPath(email))).status === 200;

afterAll(async () => {
  // The addresses belong to this run only, but leave tenant a's list as it was.
  for (const email of [bounced, complained]) await api.delete(suppressionPath(email));
});

describe('a replayed bounce or complaint after the tenant deleted its suppression', () => {
  it('does not suppress the address again; a later bounce or complaint does', async () => {
    const mails = await campaignTo([bounced, complained]);
    // The SNS messages SES's events arrive in, each kept to be redelivered as it is.
    const messages = new Map<string, SnsMessage>();
    for (const [recipient, mail] of mails) {
      for (const event of sesEventsFor(mail)) {
        const message = signedNotification(engine.pipeline.signer, event);
        expect(await deliver(message)).toBe('applied');
        messages.set(`${recipient}:${event.eventType}`, message);
      }
    }
    expect((await api.get(suppressionPath(bounced))).body).toMatchObject({ reason: 'BOUNCE_PERMANENT' });
    expect((await api.get(suppressionPath(complained))).body).toMatchObject({ reason: 'COMPLAINT' });

    // The tenant takes both addresses off the list.
    for (const email of [bounced, complained]) expect((await api.delete(suppressionPath(email))).status).toBe(204);

    // SNS redelivers (same MessageId, Timestamp and signature); SES publishes the bounce again (a new SNS message).
    const bounce = messages.get(`${bounced}:Bounce`)!;
    const complaint = messages.get(`${complained}:Complaint`)!;
    expect(await deliver(bounce)).toBe('duplicate');
    expect(await deliver(complaint)).toBe('duplicate');
    expect(await deliver(signedNotification(engine.pipeline.signer, JSON.parse(bounce.Message)))).toBe('duplicate');
    expect(await suppressed(bounced)).toBe(false);
    expect(await suppressed(complained)).toBe(false);

    // A new complaint about the same email, made after the deletion: suppressed again.
    const again = JSON.parse(complaint.Message) as { complaint: Record<string, unknown> };
    const later = { ...again, complaint: { ...again.complaint, timestamp: new Date().toISOString(), feedbackId: `new-${run}` } };
    expect(await deliver(signedNotification(engine.pipeline.signer, later))).toBe('duplicate');
    expect((await api.get(suppressionPath(complained))).body).toMatchObject({ reason: 'COMPLAINT' });

    // The bounced address is mailed again (it is off the list) and bounces again: suppressed again.
    const second = (await campaignTo([bounced])).get(bounced)!;
    const newBounce = sesEventsFor(second).find((e) => e.eventType === 'Bounce')!;
    expect(await deliver(signedNotification(engine.pipeline.signer, newBounce))).toBe('applied');
    expect((await api.get(suppressionPath(bounced))).body).toMatchObject({ reason: 'BOUNCE_PERMANENT' });
  });
});

describe('a signed SNS message outside the accepted window', () => {
  it('is refused with 403 and its code, and changes nothing', async () => {
    const recipient = `bounce+stale${run}@${SIM}`;
    const mail = (await campaignTo([recipient])).get(recipient)!;
    const bounceEvent = sesEventsFor(mail).find((e) => e.eventType === 'Bounce')!;
    const window = (engine.config.SNS_MAX_MESSAGE_AGE_SECONDS + engine.config.SNS_CLOCK_SKEW_SECONDS) * 1000;
    const cases = [
      ['STALE_MESSAGE', new Date(Date.now() - window - 60_000).toISOString()],
      ['FUTURE_MESSAGE', new Date(Date.now() + engine.config.SNS_CLOCK_SKEW_SECONDS * 1000 + 60_000).toISOString()],
    ] as const;
    for (const [code, Timestamp] of cases) {
      const res = await postSnsMessage(engine.url, signedNotification(engine.pipeline.signer, bounceEvent, { Timestamp }));
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect(await suppressed(recipient)).toBe(false);
    // Inside the window (an SNS retry late in its hour), the same event is taken.
    const late = new Date(Date.now() - engine.config.SNS_MAX_MESSAGE_AGE_SECONDS * 1000 + 60_000).toISOString();
    expect(await deliver(signedNotification(engine.pipeline.signer, bounceEvent, { Timestamp: late }))).toBe('applied');
    expect(await suppressed(recipient)).toBe(true);
    await api.delete(suppressionPath(recipient));
  });
});
