// Standard Webhooks (standardwebhooks.com) signatures for the event webhooks we send:
// HMAC-SHA256 over "id.timestamp.body", carried in the webhook-* headers.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const SIGNATURE_VERSION = 'v1';
const DEFAULT_TOLERANCE_SECONDS = 300;
// 24 bytes is what the reference libraries generate; comfortably above HMAC's needs.
const SECRET_BYTES = 24;

export type WebhookHeaderName = 'webhook-id' | 'webhook-timestamp' | 'webhook-signature';

export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const digest = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`, 'utf8').digest('base64');
  return `${SIGNATURE_VERSION},${digest}`;
}

export function webhookHeaders(secret: string, id: string, timestampSeconds: number, body: string): Record<WebhookHeaderName, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(secret, id, timestampSeconds, body),
  };
}

export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  opts: { toleranceSeconds?: number; nowSeconds?: number } = {},
): boolean {
  const id = firstHeader(headers, 'webhook-id');
  const timestampText = firstHeader(headers, 'webhook-timestamp');
  const signatures = allHeaders(headers, 'webhook-signature').flatMap((value) => value.split(' '));
  if (!id || !timestampText || signatures.length === 0) return false;

  // Canonical integers only, so re-signing String(timestamp) reproduces exactly the text
  // the sender signed (Number() would also take "1e9", "0x1f" or leading zeros).
  if (!/^(?:0|[1-9]\d{0,14})$/.test(timestampText)) return false;
  const timestamp = Number(timestampText);
  const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - timestamp) > tolerance) return false;

  const expected = Buffer.from(signWebhook(secret, id, timestamp, body), 'utf8');
  let matched = false;
  // Checks every entry (no early exit) so timing does not reveal which one matched.
  for (const candidate of signatures) {
    const bytes = Buffer.from(candidate, 'utf8');
    if (bytes.length === expected.length && timingSafeEqual(bytes, expected)) matched = true;
  }
  return matched;
}

export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

// Standard Webhooks secrets are "whsec_" + base64 key bytes; anything else is taken as a
// plain passphrase so hand-made secrets still work.
function secretKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX) ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

function allHeaders(headers: Record<string, string | string[] | undefined>, name: string): string[] {
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    values.push(...(Array.isArray(value) ? value : [value]));
  }
  return values.map((v) => v.trim()).filter((v) => v.length > 0);
}

function firstHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  return allHeaders(headers, name)[0];
}
