// The local SNS pieces end to end on real local servers: the signer's certificate and
// signatures against the real verifier, and the SES event source reading the SES emulator
// and posting signed SNS notifications to a receiving HTTP server.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SendEmailCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import sesServer from 'aws-ses-v2-local';
import { parseSnsMessage, type SnsMessage } from '../../src/domain/sns-message';
import { isAllowedSubscribeUrl, SnsVerificationError, SnsVerifier } from '../../src/adapters/sns-verifier';
import { startSnsSigner, type SnsSigner } from '../../src/local/sns-signer';
import { startEventSource } from '../../src/local/event-source';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:email-engine-events';
let signer: SnsSigner;

beforeAll(async () => {
  signer = await startSnsSigner({ topicArn: TOPIC });
}, 30_000);
afterAll(() => signer.close());

const notification = (overrides: Partial<SnsMessage> = {}) => ({
  Type: 'Notification' as const,
  MessageId: randomUUID(),
  TopicArn: TOPIC,
  Subject: 'Amazon SES Email Event Notification',
  Message: JSON.stringify({ eventType: 'Delivery', note: 'héllo ✓' }),
  Timestamp: new Date().toISOString(),
  ...overrides,
});

async function reason(promise: Promise<void>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SnsVerificationError) return error.reason;
    throw error;
  }
  return 'VERIFIED';
}

/** The verifier over the signer's cert, counting certificate downloads. */
function verifierFor(opts: { topicArns?: string[]; trusted?: string[]; cacheSize?: number; now?: () => number } = {}) {
  const fetched: string[] = [];
  const verifier = new SnsVerifier({
    topicArns: opts.topicArns ?? [TOPIC],
    trustedCertUrlPrefixes: opts.trusted ?? [signer.certUrl],
    cacheSize: opts.cacheSize,
    now: opts.now,
    fetch: (input, init) => {
      fetched.push(String(input));
      return fetch(input, init);
    },
  });
  return { verifier, fetched };
}

describe('local SNS signer with the SNS verifier', () => {
  it.each(['1', '2'] as const)('signs SignatureVersion %s messages that verify', async (version) => {
    const { verifier } = verifierFor();
    const signed = signer.sign(notification(), version);
    expect(signed).toMatchObject({ SignatureVersion: version, SigningCertURL: signer.certUrl });
    expect(signer.certUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/SimpleNotificationService-local\.pem$/);
    await expect(verifier.verify(parseSnsMessage(JSON.stringify(signed)))).resolves.toBeUndefined();
  });

  it('verifies a signed subscription confirmation', async () => {
    const { verifier } = verifierFor();
    const { Subject: _subject, ...rest } = notification();
    const signed = signer.sign({ ...rest, Type: 'SubscriptionConfirmation', SubscribeURL: `${signer.certUrl}?confirm`, Token: 'tok' });
    expect(await reason(verifier.verify(signed))).toBe('VERIFIED');
    expect(await reason(verifier.verify({ ...signed, Token: 'other' }))).toBe('BAD_SIGNATURE');
  });

  it('rejects a tampered message, a wrong topic and an untrusted cert URL with their reasons', async () => {
    const signed = signer.sign(notification());
    const { verifier } = verifierFor();
    expect(await reason(verifier.verify({ ...signed, Message: signed.Message.replace('Delivery', 'Bounce') }))).toBe('BAD_SIGNATURE');
    expect(await reason(verifier.verify({ ...signed, Subject: undefined }))).toBe('BAD_SIGNATURE');
    expect(await reason(verifier.verify({ ...signed, SignatureVersion: '2' }))).toBe('BAD_SIGNATURE');
    expect(await reason(verifier.verify({ ...signed, Signature: 'not base64 at all!' }))).toBe('BAD_SIGNATURE');
    expect(await reason(verifierFor({ topicArns: [`${TOPIC}-other`] }).verifier.verify(signed))).toBe('UNKNOWN_TOPIC');
    expect(await reason(verifierFor({ trusted: [] }).verifier.verify(signed))).toBe('UNTRUSTED_CERT_URL');
    expect(await reason(verifierFor({ trusted: ['http://127.0.0.1:1/'] }).verifier.verify(signed))).toBe('UNTRUSTED_CERT_URL');
  });

  it('rejects unparsable, stale and far-future timestamps and unknown signature versions', async () => {
    const { verifier } = verifierFor();
    const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
    expect(await reason(verifier.verify(signer.sign(notification({ Timestamp: 'yesterday' }))))).toBe('INVALID_TIMESTAMP');
    expect(await reason(verifier.verify(signer.sign(notification({ Timestamp: at(2 * 3600_000) }))))).toBe('FUTURE_MESSAGE');
    expect(await reason(verifier.verify(signer.sign(notification({ Timestamp: at(-2 * 3600_000) }))))).toBe('STALE_MESSAGE');
    expect(await reason(verifier.verify(signer.sign(notification({ Timestamp: at(4 * 60_000) }))))).toBe('VERIFIED');
    expect(await reason(verifier.verify(signer.sign(notification({ Timestamp: at(-59 * 60_000) }))))).toBe('VERIFIED');
    const v3 = { ...signer.sign(notification()), SignatureVersion: '3' } as unknown as SnsMessage;
    expect(await reason(verifier.verify(v3))).toBe('UNSUPPORTED_VERSION');
  });

  it('fetches a certificate once, sharing concurrent downloads; a failing URL does not evict it', async () => {
    const { verifier, fetched } = verifierFor({ trusted: [signer.certUrl.replace(/\/[^/]*$/, '/')], cacheSize: 1 });
    const signed = signer.sign(notification());
    await Promise.all([verifier.verify(signed), verifier.verify(signed), verifier.verify(signed)]);
    await verifier.verify(signed);
    expect(fetched).toEqual([signer.certUrl]);
    // A second URL (same server, query differs) fails; failures are cached apart, so the one-entry cache keeps the certificate.
    const other = { ...signed, SigningCertURL: `${signer.certUrl}?v=2` };
    expect(await reason(verifier.verify(other))).toBe('CERT_FETCH_FAILED'); // the query is a different path → 404
    await verifier.verify(signed);
    expect(fetched).toEqual([signer.certUrl, other.SigningCertURL]);
  });

  it('reports CERT_FETCH_FAILED for an unreachable or non-certificate URL, remembers it a while, then retries', async () => {
    let clock = Date.now();
    const origin = new URL(signer.certUrl).origin;
    const { verifier, fetched } = verifierFor({ trusted: [`${origin}/`, 'http://127.0.0.1:1/'], now: () => clock });
    const signed = signer.sign(notification());
    const missing = { ...signed, SigningCertURL: signer.certUrl.replace('.pem', '-missing.pem') };
    expect(await reason(verifier.verify(missing))).toBe('CERT_FETCH_FAILED');
    expect(await reason(verifier.verify(missing))).toBe('CERT_FETCH_FAILED');
    expect(fetched).toHaveLength(1);
    clock += 16_000; // past the 15 s a failure is remembered
    expect(await reason(verifier.verify(missing))).toBe('CERT_FETCH_FAILED');
    expect(fetched).toHaveLength(2);
    // From another address: this one has used its own share of downloads (two) by now.
    expect(await reason(verifier.verify({ ...signed, SigningCertURL: 'http://127.0.0.1:1/x.pem' }, '192.0.2.2'))).toBe('CERT_FETCH_FAILED');
  });

  it('allows SubscribeURLs on SNS hosts over https or under a trusted prefix only', () => {
    const trusted = ['http://127.0.0.1:4567/'];
    expect(isAllowedSubscribeUrl('https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x', trusted)).toBe(true);
    expect(isAllowedSubscribeUrl('http://127.0.0.1:4567/confirm', trusted)).toBe(true);
    expect(isAllowedSubscribeUrl('http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription', trusted)).toBe(false);
    expect(isAllowedSubscribeUrl('https://sns.us-east-1.amazonaws.com.evil.com/', trusted)).toBe(false);
    expect(isAllowedSubscribeUrl('http://127.0.0.1:45678/confirm', trusted)).toBe(false);
    expect(isAllowedSubscribeUrl('http://127.0.0.1:4567/confirm', [''])).toBe(false);
    // The bucket named sns, and a trusted prefix given without its slash, followed by userinfo.
    expect(isAllowedSubscribeUrl('https://sns.s3.amazonaws.com/?Action=ConfirmSubscription', trusted)).toBe(false);
    expect(isAllowedSubscribeUrl('http://127.0.0.1:4567@evil.example/confirm', ['http://127.0.0.1:4567'])).toBe(false);
  });
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** Records every POST; `respond` picks the status for the n-th request. */
async function startReceiver(respond: (n: number) => number = () => 200) {
  const received: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = respond(n++);
      if (status < 300) received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status).end();
    });
  });
  const url = `${await listen(server)}/sns`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('local SES event source', () => {
  let ses: Server;
  let sesEndpoint: string;
  let client: SESv2Client;

  beforeAll(async () => {
    ses = await sesServer({ host: '127.0.0.1', port: 0 }); // the emulator passes port 0 to listen()
    const address = ses.address();
    sesEndpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    // As in src/adapters/aws.ts: the SDK's notice about future Node support is noise here.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    client = new SESv2Client({ endpoint: sesEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  });
  afterAll(async () => {
    client.destroy();
    ses.closeAllConnections();
    await new Promise<void>((r) => ses.close(() => r()));
  });

  async function send(to: string, messageId: string = randomUUID()) {
    await client.send(
      new SendEmailCommand({
        FromEmailAddress: 'sender@example.com',
        Destination: { ToAddresses: [to] },
        Content: {
          Simple: {
            Subject: { Data: `hello ${to}` },
            Body: { Text: { Data: 'hi' } },
            Headers: [
              { Name: 'X-Transaction-Id', Value: 'txn-1' },
              { Name: 'X-Batch-Id', Value: 'batch-1' },
              { Name: 'X-Message-Id', Value: messageId },
            ],
          },
        },
      }),
    );
    return messageId;
  }

  it('publishes the simulator events for each recipient as signed SNS notifications', async () => {
    const receiver = await startReceiver();
    const source = await startEventSource({ sesEndpoint, targetUrl: receiver.url, signer, pollMs: 50 });
    try {
      const expected: Record<string, string[]> = {
        'success@simulator.amazonses.com': ['Send', 'Delivery'],
        'bounce+x@simulator.amazonses.com': ['Send', 'Bounce'],
        'complaint@simulator.amazonses.com': ['Send', 'Delivery', 'Complaint'],
        'Success+Click-1@Simulator.AmazonSES.com': ['Send', 'Delivery', 'Open', 'Click'],
        'someone@example.com': ['Send', 'Delivery'],
      };
      const ids: Record<string, string> = {};
      for (const to of Object.keys(expected)) ids[to] = await send(to);
      await source.flush();

      const verifier = new SnsVerifier({ topicArns: [TOPIC], trustedCertUrlPrefixes: [signer.certUrl] });
      const byRecipient: Record<string, any[]> = {};
      for (const { headers, body } of receiver.received) {
        expect(headers['content-type']).toBe('text/plain; charset=UTF-8');
        expect(headers['x-amz-sns-message-type']).toBe('Notification');
        const message = parseSnsMessage(body);
        await verifier.verify(message);
        expect(message).toMatchObject({ Type: 'Notification', TopicArn: TOPIC, SignatureVersion: '1' });
        const event = JSON.parse(message.Message);
        (byRecipient[event.mail.destination[0]] ??= []).push(event);
      }
      for (const [to, types] of Object.entries(expected)) {
        const events = byRecipient[to] ?? [];
        expect(
          events.map((e) => e.eventType),
          to,
        ).toEqual(types);
        for (const event of events) {
          expect(event.mail.tags).toEqual({
            'ses:configuration-set': ['email-engine'],
            transaction_id: ['txn-1'],
            batch_id: ['batch-1'],
            message_id: [ids[to]],
          });
          expect(event.mail.commonHeaders).toMatchObject({ from: ['sender@example.com'], to: [to], subject: `hello ${to}` });
        }
      }
      expect(byRecipient['bounce+x@simulator.amazonses.com']?.[1].bounce).toMatchObject({
        bounceType: 'Permanent',
        bounceSubType: 'General',
        bouncedRecipients: [{ emailAddress: 'bounce+x@simulator.amazonses.com', status: '5.1.1' }],
      });
      expect(byRecipient['complaint@simulator.amazonses.com']?.[2].complaint.complaintFeedbackType).toBe('abuse');
      expect(byRecipient['Success+Click-1@Simulator.AmazonSES.com']?.[3].click.link).toBe('https://example.com/landing');
      expect(source.stats()).toEqual({ emails: 5, posted: 13, failed: 0 });

      // Later polls do not republish what was already seen.
      await new Promise((r) => setTimeout(r, 200));
      await source.flush();
      expect(receiver.received).toHaveLength(13);
    } finally {
      await source.stop();
      await receiver.close();
    }
  });

  it('maps the other simulator mailboxes', async () => {
    const receiver = await startReceiver();
    const source = await startEventSource({ sesEndpoint, targetUrl: receiver.url, signer, pollMs: 10_000 });
    try {
      for (const to of [
        'bounce+transient@simulator.amazonses.com',
        'suppressionlist@simulator.amazonses.com',
        'ooto@simulator.amazonses.com',
        'success+open@simulator.amazonses.com',
      ]) {
        await send(to);
      }
      await source.flush();
      // Emails are published concurrently, so only each recipient's own sequence is ordered.
      const byMailbox: Record<string, string[]> = {};
      for (const { body } of receiver.received) {
        const event = JSON.parse(parseSnsMessage(body).Message);
        const summary = [event.eventType, event.bounce?.bounceType, event.bounce?.bounceSubType].filter(Boolean).join(' ');
        (byMailbox[event.mail.destination[0].split('@')[0]] ??= []).push(summary);
      }
      expect(byMailbox).toEqual({
        'bounce+transient': ['Send', 'Bounce Transient MailboxFull'],
        suppressionlist: ['Send', 'Bounce Permanent OnAccountSuppressionList'],
        ooto: ['Send', 'Delivery'],
        'success+open': ['Send', 'Delivery', 'Open'],
      });
    } finally {
      await source.stop();
      await receiver.close();
    }
  });

  it('retries failed posts with backoff and counts the ones that never get through', async () => {
    // Fails the first two requests, then accepts: the Send goes through on its third attempt.
    const flaky = await startReceiver((n) => (n < 2 ? 503 : 200));
    const source = await startEventSource({ sesEndpoint, targetUrl: flaky.url, signer, pollMs: 10_000 });
    await send('success@simulator.amazonses.com');
    await source.flush();
    await source.stop();
    await flaky.close();
    expect(flaky.received.map((r) => JSON.parse(parseSnsMessage(r.body).Message).eventType)).toEqual(['Send', 'Delivery']);
    expect(source.stats()).toEqual({ emails: 1, posted: 2, failed: 0 });

    const lines: string[] = [];
    const down = await startEventSource({
      sesEndpoint,
      targetUrl: 'http://127.0.0.1:1/sns',
      signer,
      pollMs: 10_000,
      log: (l) => lines.push(l),
    });
    await send('bounce@simulator.amazonses.com', 'msg-down');
    await down.flush();
    await down.stop();
    expect(down.stats()).toEqual({ emails: 1, posted: 0, failed: 2 });
    expect(lines.map((l) => JSON.parse(l))).toMatchObject([
      { level: 'warn', transaction_id: 'txn-1', event_type: 'Send', attempts: 6 },
      { level: 'warn', transaction_id: 'txn-1', event_type: 'Bounce', attempts: 6 },
    ]);
  }, 20_000);
});
