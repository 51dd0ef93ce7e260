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
  Timestamp: text,
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

// Regions are lowercase letters, digits and dashes (us-east-1, cn-north-1, us-gov-west-1).
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/**
 * Whether a URL is on an SNS regional endpoint over https with nothing that could redirect
 * trust elsewhere (userinfo, an explicit port). Hostnames are matched whole, so
 * sns.us-east-1.amazonaws.com.evil.com and evil.com/sns.us-east-1.amazonaws.com fail.
 */
export function isAmazonSnsHostUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  // WHATWG URL drops ":443" for https, so any remaining port is a non-default one.
  return (
    parsed.protocol === 'https:' && parsed.username === '' && parsed.password === '' && parsed.port === '' && SNS_HOST.test(parsed.hostname)
  );
}

export function isAmazonSnsCertUrl(url: string): boolean {
  if (!isAmazonSnsHostUrl(url)) return false;
  return new URL(url).pathname.endsWith('.pem');
}
