// One-click unsubscribe (RFC 8058) tokens: the recipient, tenant and message, signed with an
// HMAC so a token cannot be guessed or forged to unsubscribe someone else. A campaign with a
// topic (issue 15, item 7) puts it in the token too, inside the MAC, so nobody can turn a
// topic unsubscribe into another topic's; tokens mailed before topics (four fields) still
// verify, without a topic.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface UnsubscribeClaims {
  tenantId: string;
  email: string;
  transactionId: string;
  messageId: string;
  /** The campaign's topic; absent for a campaign without one and for tokens made before topics. */
  topic?: string;
}

const mac = (secret: string, payload: string) => createHmac('sha256', secret).update(payload).digest('base64url');

export function createUnsubscribeToken(secret: string, claims: UnsubscribeClaims): string {
  const fields = [claims.tenantId, claims.email, claims.transactionId, claims.messageId];
  // Without a topic the token is byte for byte what it was before topics.
  if (claims.topic !== undefined) fields.push(claims.topic);
  const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyUnsubscribeToken(secret: string, token: string): UnsubscribeClaims | undefined {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined || token.length > 2048) return undefined;
  const expected = Buffer.from(mac(secret, payload));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const fields: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    if (!Array.isArray(fields) || (fields.length !== 4 && fields.length !== 5) || !fields.every((v) => typeof v === 'string')) {
      return undefined;
    }
    const [tenantId, email, transactionId, messageId, topic] = fields as string[];
    return {
      tenantId: tenantId!,
      email: email!,
      transactionId: transactionId!,
      messageId: messageId!,
      ...(topic === undefined ? {} : { topic }),
    };
  } catch {
    return undefined;
  }
}
