// One-click unsubscribe (RFC 8058) tokens: the recipient, tenant and message, signed with an
// HMAC so a token cannot be guessed or forged to unsubscribe someone else.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeClaims {
  tenantId: string;
  email: string;
  transactionId: string;
  messageId: string;
}

const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');

export function createUnsubscribeToken(secret: string, claims: UnsubscribeClaims): string {
  const payload = Buffer.from(JSON.stringify([claims.tenantId, claims.email, claims.transactionId, claims.messageId])).toString(
    'base64url',
  );
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyUnsubscribeToken(secret: string, token: string): UnsubscribeClaims | undefined {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined || token.length > 2048) return undefined;
  const expected = Buffer.from(mac(secret, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const [tenantId, email, transactionId, messageId] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as string[];
    if (![tenantId, email, transactionId, messageId].every((v) => typeof v === 'string')) return undefined;
    return { tenantId: tenantId!, email: email!, transactionId: transactionId!, messageId: messageId! };
  } catch {
    return undefined;
  }
}
