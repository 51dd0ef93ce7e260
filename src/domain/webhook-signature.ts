// Standard Webhooks (standardwebhooks.com) signatures for the event webhooks we send:
// HMAC-SHA256 over "id.timestamp.body", carried in the webhook-* headers.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
const SIGNATURE_VERSION = 'v1';
const DEFAULT_TOLERANCE_SECONDS = 300;
// 24 bytes is what the reference libraries generate; comfortably above HMAC's needs. The
// Standard Webhooks specification asks for keys of 24 to 64 bytes.
const SECRET_BYTES = 24;
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** A webhook secret that is not "whsec_" + base64 of a 24 to 64 byte key. */
export class InvalidWebhookSecretError extends Error {
  constructor(problem: string) {
    super(`invalid webhook secret: ${problem}`);
    this.name = 'InvalidWebhookSecretError';
  }
}

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
  // A misconfigured secret is an error, not a webhook that happens not to verify.
  assertWebhookSecret(secret);
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

/**
 * What is wrong with a webhook secret, or undefined when it is one the official Standard Webhooks
 * libraries accept: "whsec_" then the key in padded standard base64, 24 to 64 bytes. A secret
 * of any other shape would be read differently by a receiver, which then rejects every webhook.
 */
export function webhookSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return `must start with "${SECRET_PREFIX}" (Standard Webhooks format)`;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(encoded)) return `must be "${SECRET_PREFIX}" followed by standard base64 (A-Z a-z 0-9 + /, padded with =)`;
  const bytes = Buffer.from(encoded, 'base64').length;
  if (bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    return `the key must be ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes, got ${bytes}`;
  }
  return undefined;
}

/** Throws InvalidWebhookSecretError unless the secret is in the Standard Webhooks format. */
export function assertWebhookSecret(secret: string): void {
  const problem = webhookSecretProblem(secret);
  if (problem) throw new InvalidWebhookSecretError(problem);
}

function secretKey(secret: string): Buffer {
  assertWebhookSecret(secret);
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
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
