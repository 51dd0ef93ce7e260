// The SNS verifier's limits (issue 14, item 5) against a real HTTP server that serves the local
// signer's certificate at any .pem path and counts the requests: certificates cached by URL,
// failures cached too, concurrent downloads of one URL collapsed, the cache capped, downloads
// rate-limited per source and overall, Amazon's URLs taken in their one spelling and file name
// pattern only; and the Timestamp window, as a redelivery meets it.
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { SnsVerificationError, SnsVerifier, snsVerifierFor, type SnsVerifierOptions } from '../../src/adapters/sns-verifier';
import { downloadSource } from '../../src/adapters/sns-cert-cache';
import { startSnsSigner, type SnsSigner } from '../../src/local/sns-signer';
import type { SnsMessage } from '../../src/domain/sns-message';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:email-engine-events';
const REAL_CERT_FILE = 'SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem';
const AMAZON = 'https://sns.us-east-1.amazonaws.com';
let signer: SnsSigner;
let server: Server;
let origin: string;
/** Every request path the certificate server got, in order. */
let requests: string[] = [];

beforeAll(async () => {
  signer = await startSnsSigner({ topicArn: TOPIC });
  const certPem = await (await fetch(signer.certUrl)).text();
  // Any /ok-….pem is the certificate; /missing-….pem is a 404; /slow-….pem answers after 100 ms.
  // Amazon-style names: only REAL_CERT_FILE exists, any other SimpleNotificationService-….pem is a 404.
  server = createServer((req, res) => {
    const path = req.url ?? '';
    requests.push(path);
    const missing = path.startsWith('/missing') || (path.startsWith('/SimpleNotificationService-') && path !== `/${REAL_CERT_FILE}`);
    const send = () => (missing ? res.writeHead(404).end() : res.end(certPem));
    if (path.startsWith('/slow')) setTimeout(send, 100);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}, 30_000);
afterAll(async () => {
  await signer.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
let clock = 0;
beforeEach(() => {
  requests = [];
  clock = Date.now();
});

const verifier = (opts: Partial<SnsVerifierOptions> = {}) =>
  new SnsVerifier({ topicArns: [TOPIC], trustedCertUrlPrefixes: [`${origin}/`], now: () => clock, ...opts });

/** A notification signed by the local signer, naming `certPath` on the counting server as its certificate. */
function message(certPath: string, timestamp = new Date(clock).toISOString()): SnsMessage {
  const signed = signer.sign({ Type: 'Notification', MessageId: randomUUID(), TopicArn: TOPIC, Message: '{}', Timestamp: timestamp });
  // SigningCertURL is not part of what is signed: the signature still verifies with the same certificate.
  return { ...signed, SigningCertURL: `${origin}${certPath}` };
}

async function outcome(promise: Promise<void>): Promise<string> {
  try {
    await promise;
    return 'VERIFIED';
  } catch (error) {
    if (error instanceof SnsVerificationError) return error.reason;
    throw error;
  }
}

describe('certificate downloads', () => {
  it('collapses concurrent verifications of one URL into one download, then serves it from the cache', async () => {
    const v = verifier();
    const m = message('/slow-a.pem');
    const results = await Promise.all(Array.from({ length: 20 }, () => outcome(v.verify(m))));
    expect(results).toEqual(Array(20).fill('VERIFIED'));
    expect(await outcome(v.verify(message('/slow-a.pem')))).toBe('VERIFIED');
    expect(requests).toEqual(['/slow-a.pem']);
  });

  it('caches by URL: 40 URLs at once from 40 sources cost the shared burst of 5 downloads, the rest are throttled', async () => {
    const v = verifier();
    const variants = Array.from({ length: 40 }, (_, i) => message(`/ok-${i}.pem`));
    const verifyAll = () => Promise.all(variants.map((m, i) => outcome(v.verify(m, `10.0.0.${i}`))));
    const first = await verifyAll();
    expect(first.filter((r) => r === 'VERIFIED')).toHaveLength(5);
    expect(first.filter((r) => r === 'CERT_FETCH_THROTTLED')).toHaveLength(35);
    expect(requests).toHaveLength(5);
    // The same 40 again at once: the 5 cached verify, nothing more is downloaded.
    const again = await verifyAll();
    expect(again.filter((r) => r === 'VERIFIED')).toHaveLength(5);
    expect(requests).toHaveLength(5);
    // A minute later the bucket has refilled to 6 a minute (capped at the burst of 5).
    clock += 60_000;
    await verifyAll();
    expect(requests).toHaveLength(10);
    expect(new Set(requests).size).toBe(10);
  });

  it('says how long to wait when throttled', async () => {
    const v = verifier({ certCache: { burst: 1, perMinute: 6 } });
    expect(await outcome(v.verify(message('/ok-x.pem')))).toBe('VERIFIED');
    const refused = await v.verify(message('/ok-y.pem')).catch((e: unknown) => e as SnsVerificationError);
    expect(refused).toMatchObject({ reason: 'CERT_FETCH_THROTTLED', retryAfterMs: 10_000 });
    clock += 10_000;
    expect(await outcome(v.verify(message('/ok-y.pem')))).toBe('VERIFIED');
    expect(requests).toEqual(['/ok-x.pem', '/ok-y.pem']);
  });

  it('remembers a failed URL for 15 s (one download however often it is named), then tries it again', async () => {
    const v = verifier();
    const m = message('/missing-1.pem');
    expect(await Promise.all(Array.from({ length: 10 }, () => outcome(v.verify(m))))).toEqual(Array(10).fill('CERT_FETCH_FAILED'));
    clock += 14_000;
    expect(await outcome(v.verify(m))).toBe('CERT_FETCH_FAILED');
    expect(requests).toEqual(['/missing-1.pem']);
    clock += 2_000;
    expect(await outcome(v.verify(m))).toBe('CERT_FETCH_FAILED');
    expect(requests).toEqual(['/missing-1.pem', '/missing-1.pem']);
  });

  it('caps the certificate cache (least recently used out), and failures never evict a certificate', async () => {
    const v = verifier({ cacheSize: 2, certCache: { failureSize: 2, burst: 100, perSource: { burst: 100 } } });
    for (const path of ['/ok-a.pem', '/ok-b.pem']) expect(await outcome(v.verify(message(path)))).toBe('VERIFIED');
    for (let i = 0; i < 10; i++) expect(await outcome(v.verify(message(`/missing-${i}.pem`)))).toBe('CERT_FETCH_FAILED');
    expect(v.certStats()).toMatchObject({ certs: 2, failures: 2 });
    requests = [];
    expect(await outcome(v.verify(message('/ok-a.pem')))).toBe('VERIFIED'); // a is now the most recent
    expect(await outcome(v.verify(message('/ok-c.pem')))).toBe('VERIFIED'); // evicts b
    expect(await outcome(v.verify(message('/ok-a.pem')))).toBe('VERIFIED');
    expect(await outcome(v.verify(message('/ok-b.pem')))).toBe('VERIFIED');
    expect(requests).toEqual(['/ok-c.pem', '/ok-b.pem']);
  });

  it('downloads nothing for a message it refuses before the signature', async () => {
    const v = verifier();
    const stale = message('/ok-stale.pem', new Date(clock - 2 * 3600_000).toISOString());
    expect(await outcome(v.verify(stale))).toBe('STALE_MESSAGE');
    expect(await outcome(v.verify({ ...message('/ok-topic.pem'), TopicArn: `${TOPIC}-other` }))).toBe('UNKNOWN_TOPIC');
    expect(await outcome(v.verify({ ...message('/ok-x.pem'), SigningCertURL: 'https://sns.s3.amazonaws.com/x.pem' }))).toBe(
      'UNTRUSTED_CERT_URL',
    );
    expect(requests).toEqual([]);
  });
});

describe('the Timestamp window', () => {
  it('accepts a redelivery of the same signed message for an hour (plus the skew), then refuses it', async () => {
    const v = verifier();
    const m = message('/ok-window.pem');
    expect(await outcome(v.verify(m))).toBe('VERIFIED');
    clock += 3600_000; // SNS's last retry, an hour after publishing
    expect(await outcome(v.verify(m))).toBe('VERIFIED');
    clock += 300_000; // the skew allowance on top
    expect(await outcome(v.verify(m))).toBe('VERIFIED');
    clock += 1;
    expect(await outcome(v.verify(m))).toBe('STALE_MESSAGE');
  });

  it('refuses a message dated further ahead than the skew', async () => {
    const v = verifier({ clockSkewSeconds: 60 });
    expect(await outcome(v.verify(message('/ok-f.pem', new Date(clock + 60_000).toISOString())))).toBe('VERIFIED');
    expect(await outcome(v.verify(message('/ok-f.pem', new Date(clock + 60_001).toISOString())))).toBe('FUTURE_MESSAGE');
  });

  it('takes its window from the config, which bounds it by SNS’s one-hour retry limit', async () => {
    const env = {
      LOCAL_STACK_DIR: mkdtempSync(join(tmpdir(), 'sns-verifier-test-')),
      SNS_TOPIC_ARNS: TOPIC,
      SNS_TRUSTED_CERT_URLS: `${origin}/`,
    };
    const defaults = loadConfig(env);
    expect(defaults).toMatchObject({ SNS_MAX_MESSAGE_AGE_SECONDS: 3600, SNS_CLOCK_SKEW_SECONDS: 300 });
    expect(() => loadConfig({ ...env, SNS_MAX_MESSAGE_AGE_SECONDS: '3601' })).toThrow(/SNS_MAX_MESSAGE_AGE_SECONDS/);
    expect(() => loadConfig({ ...env, SNS_MAX_MESSAGE_AGE_SECONDS: '30' })).toThrow(/SNS_MAX_MESSAGE_AGE_SECONDS/);
    expect(() => loadConfig({ ...env, SNS_CLOCK_SKEW_SECONDS: '901' })).toThrow(/SNS_CLOCK_SKEW_SECONDS/);
    const v = snsVerifierFor(loadConfig({ ...env, SNS_MAX_MESSAGE_AGE_SECONDS: '600', SNS_CLOCK_SKEW_SECONDS: '10' }));
    const realNow = Date.now();
    expect(await outcome(v.verify(message('/ok-c1.pem', new Date(realNow - 600_000).toISOString())))).toBe('VERIFIED');
    expect(await outcome(v.verify(message('/ok-c1.pem', new Date(realNow - 615_000).toISOString())))).toBe('STALE_MESSAGE');
  });
});

/**
 * A verifier that trusts only Amazon's URLs (no local prefix), its downloads from
 * sns.us-east-1.amazonaws.com answered by the counting server instead: a stand-in for Amazon.
 */
const amazonVerifier = (opts: Partial<SnsVerifierOptions> = {}) =>
  verifier({
    trustedCertUrlPrefixes: [],
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.origin !== AMAZON) throw new Error(`unexpected download ${url.href}`);
      return fetch(`${origin}${url.pathname}`, init);
    },
    ...opts,
  });
const randomHex = () => randomUUID().replaceAll('-', '');
/** A message naming an Amazon certificate URL (the signature is the local signer's, which the stand-in serves). */
const amazonMessage = (certUrl: string) => ({ ...message('/unused.pem'), SigningCertURL: certUrl });

describe('certificate URLs from Amazon', () => {
  const real = `${AMAZON}/${REAL_CERT_FILE}`;

  it('takes only the canonical spelling: case and port variants are refused, download nothing and evict nothing', async () => {
    const v = amazonVerifier({ cacheSize: 32, certCache: { burst: 100, perSource: { burst: 100, perMinute: 100 } } });
    expect(await outcome(v.verify(amazonMessage(real), '192.0.2.1'))).toBe('VERIFIED');
    const hosts = [
      'SnS.us-east-1.amazonAwS.com',
      'SNS.us-east-1.amazonaws.com',
      'sns.US-EAST-1.amazonaws.com',
      'sns.us-east-1.AmazonAWS.com',
    ];
    const variants = Array.from({ length: 80 }, (_, i) => {
      const host = hosts[i % hosts.length]!.split('')
        .map((c, j) => (j === i % 20 ? c.toUpperCase() : c))
        .join('');
      return `https://${host}${i % 2 ? ':443' : ''}/${REAL_CERT_FILE}`;
    });
    const results = await Promise.all(variants.map((url, i) => outcome(v.verify(amazonMessage(url), `192.0.2.${i + 2}`))));
    expect(results).toEqual(Array(80).fill('UNTRUSTED_CERT_URL'));
    expect(await outcome(v.verify(amazonMessage(real), '192.0.2.1'))).toBe('VERIFIED');
    expect(requests).toEqual([`/${REAL_CERT_FILE}`]);
    expect(v.certStats()).toMatchObject({ downloads: 1, certs: 1 });
  });

  it('refuses a file name that is not SimpleNotificationService-<32 hex>.pem before any download', async () => {
    const v = amazonVerifier();
    for (const name of ['x.pem', 'SimpleNotificationService-abc.pem', `SimpleNotificationService-${randomHex()}1.pem`, 'junk-0.pem']) {
      expect(await outcome(v.verify(amazonMessage(`${AMAZON}/${name}`), '198.51.100.7'))).toBe('UNTRUSTED_CERT_URL');
    }
    expect(requests).toEqual([]);
  });

  it('keeps junk from one source from stopping a genuine message from another on a cold cache', async () => {
    const v = amazonVerifier();
    // Well-formed junk: the right host and file name pattern, no such certificate, no valid signature needed.
    const junk = Array.from({ length: 30 }, () => amazonMessage(`${AMAZON}/SimpleNotificationService-${randomHex()}.pem`));
    const attacked = [];
    for (const m of junk) attacked.push(await outcome(v.verify(m, '203.0.113.66')));
    // The attacker's own share (a burst of 2) is spent on 404s; the rest is held back without a download.
    expect(attacked.filter((r) => r === 'CERT_FETCH_FAILED')).toHaveLength(2);
    expect(attacked.filter((r) => r === 'CERT_FETCH_THROTTLED')).toHaveLength(28);
    expect(requests).toHaveLength(2);
    // The attacker's neighbours in its IPv6 /64 share its limit; a genuine message from SNS's address is verified.
    const freshJunk = () => amazonMessage(`${AMAZON}/SimpleNotificationService-${randomHex()}.pem`);
    expect(await outcome(v.verify(freshJunk(), '2001:db8:1:2::5'))).toBe('CERT_FETCH_FAILED');
    expect(await outcome(v.verify(freshJunk(), '2001:db8:1:2::5'))).toBe('CERT_FETCH_FAILED');
    expect(await outcome(v.verify(freshJunk(), '2001:db8:1:2:ffff::1'))).toBe('CERT_FETCH_THROTTLED');
    expect(await outcome(v.verify(amazonMessage(real), '54.240.197.10'))).toBe('VERIFIED');
    // Once cached, the certificate costs no download, so the throttled attacker's address verifies it too.
    expect(await outcome(v.verify(amazonMessage(real), '203.0.113.66'))).toBe('VERIFIED');
    expect(requests.filter((r) => r === `/${REAL_CERT_FILE}`)).toHaveLength(1);
  });

  it('gives a source its downloads back over time, and the overall limit still bounds many sources', async () => {
    const v = amazonVerifier({ certCache: { burst: 3, perMinute: 6, perSource: { burst: 1, perMinute: 0.5 } } });
    const junk = () => amazonMessage(`${AMAZON}/SimpleNotificationService-${randomHex()}.pem`);
    expect(await outcome(v.verify(junk(), '203.0.113.1'))).toBe('CERT_FETCH_FAILED');
    const held = await v.verify(junk(), '203.0.113.1').catch((e: unknown) => e as SnsVerificationError);
    expect(held).toMatchObject({ reason: 'CERT_FETCH_THROTTLED', retryAfterMs: 120_000 });
    // Other sources take the rest of the overall burst; past it, even a fresh source waits.
    expect(await outcome(v.verify(junk(), '203.0.113.2'))).toBe('CERT_FETCH_FAILED');
    expect(await outcome(v.verify(junk(), '203.0.113.3'))).toBe('CERT_FETCH_FAILED');
    expect(await outcome(v.verify(junk(), '203.0.113.4'))).toBe('CERT_FETCH_THROTTLED');
    // A refusal by the overall limit does not use up that source's own share.
    clock += 10_000;
    expect(await outcome(v.verify(junk(), '203.0.113.4'))).toBe('CERT_FETCH_FAILED');
    clock += 120_000;
    expect(await outcome(v.verify(junk(), '203.0.113.1'))).toBe('CERT_FETCH_FAILED');
    expect(requests).toHaveLength(5);
  });
});

describe('downloadSource', () => {
  it.each([
    ['203.0.113.66', '203.0.113.66'],
    ['::ffff:203.0.113.66', '203.0.113.66'],
    ['::FFFF:203.0.113.66', '203.0.113.66'],
    ['2001:db8:1:2::5', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:0:0:1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4::/64'],
    [undefined, 'unknown'],
    ['', 'unknown'],
  ])('charges %s to %s', (address, source) => {
    expect(downloadSource(address)).toBe(source);
  });
});
