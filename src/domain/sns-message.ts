// Amazon SNS HTTP(S) messages: the shape we accept, the canonical string Amazon signs, and
// which certificate URLs can really be Amazon's. Pure; the network half is the SNS verifier.
// https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
import { z } from 'zod';

export interface SnsMessage {
  Type: 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';
  MessageId: string;
  TopicArn: string;
  Subject?: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  SubscribeURL?: string;
  Token?: string;
  UnsubscribeURL?: string;
}

const text = z.string().min(1);

// Unknown keys (MessageAttributes and the like) are dropped: only signed fields matter here.
const common = {
  MessageId: text,
  TopicArn: text,
  // An empty Message is legal for SNS; everything else that is signed must be present.
  Message: z.string(),
  Timestamp: text.refine((t) => snsTimestampMs(t) !== undefined, 'must be an ISO 8601 UTC time such as 2012-05-02T00:54:06.655Z'),
  SignatureVersion: z.enum(['1', '2']),
  Signature: text,
  SigningCertURL: text,
  UnsubscribeURL: text.optional(),
};

const schema = z.discriminatedUnion('Type', [
  z.object({
    ...common,
    Type: z.literal('Notification'),
    // Some SNS clients serialise an absent subject as null; null is not signed, so drop it.
    Subject: z
      .string()
      .nullish()
      .transform((s) => s ?? undefined),
  }),
  z.object({
    ...common,
    Type: z.enum(['SubscriptionConfirmation', 'UnsubscribeConfirmation']),
    SubscribeURL: text,
    Token: text,
  }),
]);

/** Accepts the parsed JSON body or the raw body text (SNS posts JSON as text/plain). */
export function parseSnsMessage(body: unknown): SnsMessage {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      throw new Error('invalid SNS message: body is not JSON');
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new Error(`invalid SNS message: ${issues}`);
  }
  const message: SnsMessage = { ...result.data };
  // Keep "absent" absent rather than a key holding undefined, so the object round-trips.
  if (message.Subject === undefined) delete message.Subject;
  if (message.UnsubscribeURL === undefined) delete message.UnsubscribeURL;
  return message;
}

const NOTIFICATION_KEYS = ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const;
const SUBSCRIPTION_KEYS = ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const;

/** Amazon's canonical form: the listed keys in byte order, each as "Key\nValue\n"; absent keys are skipped. */
export function snsStringToSign(m: SnsMessage): string {
  const keys = m.Type === 'Notification' ? NOTIFICATION_KEYS : SUBSCRIPTION_KEYS;
  let out = '';
  for (const key of keys) {
    const value = m[key];
    if (value === undefined) continue;
    out += `${key}\n${value}\n`;
  }
  return out;
}

// sns.<region>.amazonaws.com, or .amazonaws.com.cn for the China regions, and nothing else:
// a region is a real region's shape (us-east-1, ap-southeast-2, us-gov-west-1, cn-north-1),
// so a bucket's virtual host (sns.s3.amazonaws.com) or sns.<anything>.amazonaws.com is not one.
// Regions outside these two partitions (ISO, the European Sovereign Cloud) are not supported.
const SNS_HOST = /^sns\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)$/;
const REGION = /^[a-z]{2}(?:-gov)?-(?:east|west|north|south|central|northeast|northwest|southeast|southwest)-[1-9]\d?$/;
// Amazon's certificates sit at the root under one name pattern, 32 lowercase hex digits
// (/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem): a URL that cannot be a
// certificate is refused before any download.
const CERT_PATH = /^\/SimpleNotificationService-[0-9a-f]{32}\.pem$/;

function isSnsHost(hostname: string): boolean {
  const match = SNS_HOST.exec(hostname);
  if (!match || !REGION.test(match[1]!)) return false;
  return match[2] === (match[1]!.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com');
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * Whether a URL is on an SNS regional endpoint over https with nothing that could redirect
 * trust elsewhere (userinfo, an explicit port). Hostnames are matched whole, so
 * sns.us-east-1.amazonaws.com.evil.com and evil.com/sns.us-east-1.amazonaws.com fail.
 */
export function isAmazonSnsHostUrl(url: string): boolean {
  const parsed = parseUrl(url);
  // WHATWG URL drops ":443" for https, so any remaining port is a non-default one.
  return (
    parsed !== undefined &&
    parsed.protocol === 'https:' &&
    parsed.username === '' &&
    parsed.password === '' &&
    parsed.port === '' &&
    isSnsHost(parsed.hostname)
  );
}

/**
 * An SNS host URL naming one SNS certificate file at the root, spelt the one way SNS spells it:
 * lowercase host, no port, no query or fragment, nothing percent-encoded. Every other spelling
 * of the same file would be a cache entry and a download of its own, so it is refused.
 */
export function isAmazonSnsCertUrl(url: string): boolean {
  if (!isAmazonSnsHostUrl(url)) return false;
  const parsed = new URL(url);
  return CERT_PATH.test(parsed.pathname) && url === `https://${parsed.hostname}${parsed.pathname}`;
}

/**
 * Whether `url` lies under a trusted prefix (the local stack's certificate and confirmation
 * URLs): the same scheme, host and port, no userinfo, and a path starting with the prefix's.
 * Compared parsed, not as text, so "http://127.0.0.1:4567" does not also trust
 * "http://127.0.0.1:45678/" or "http://127.0.0.1:4567@evil.example/".
 */
export function isUnderTrustedPrefix(url: string, prefix: string): boolean {
  const target = parseUrl(url);
  const base = parseUrl(prefix);
  if (!target || !base || target.username !== '' || target.password !== '') return false;
  return target.protocol === base.protocol && target.host === base.host && target.pathname.startsWith(base.pathname);
}

/** SNS writes ISO 8601 in UTC with milliseconds (2012-05-02T00:54:06.655Z); nothing looser is taken. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/** The message's Timestamp in epoch milliseconds; undefined when it is not SNS's format. */
export function snsTimestampMs(timestamp: string): number | undefined {
  if (!TIMESTAMP.test(timestamp)) return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

export interface SnsMessageWindow {
  /** How old a message may be: the longest SNS redelivery accepted. */
  maxAgeMs: number;
  /** Clock difference allowed between Amazon and this host, either way. */
  skewMs: number;
}

export type SnsTimestampProblem = 'INVALID_TIMESTAMP' | 'STALE_MESSAGE' | 'FUTURE_MESSAGE';

/**
 * Whether a message's Timestamp is acceptable at `nowMs`: not older than maxAge plus the skew
 * (SNS keeps a message's Timestamp on every retry, so this bounds how late a redelivery, or a
 * captured message replayed, can come), and not later than now plus the skew.
 */
export function snsTimestampProblem(timestamp: string, nowMs: number, window: SnsMessageWindow): SnsTimestampProblem | undefined {
  const sentAt = snsTimestampMs(timestamp);
  if (sentAt === undefined) return 'INVALID_TIMESTAMP';
  if (nowMs - sentAt > window.maxAgeMs + window.skewMs) return 'STALE_MESSAGE';
  if (sentAt - nowMs > window.skewMs) return 'FUTURE_MESSAGE';
  return undefined;
}
