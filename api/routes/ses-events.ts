// POST /api/v1/events/ses: the Amazon SNS HTTP(S) subscription that carries SES events.
// Only signed, current messages for configured topics are accepted (403 otherwise, nothing
// changes: see the rules atop src/adapters/sns-verifier.ts); a subscription is confirmed by
// visiting its SubscribeURL; notifications are applied once.
import express, { Router } from 'express';
import { parseSnsMessage, type SnsMessage } from '../../src/domain/sns-message';
import { sesEventSchema } from '../../src/domain/ses-event';
import { isAllowedSubscribeUrl, SnsVerificationError, type SnsVerificationReason } from '../../src/adapters/sns-verifier';
import { sendError } from '../errors';
import type { ApiDeps } from '../deps';

const RETRYABLE: ReadonlySet<SnsVerificationReason> = new Set(['CERT_FETCH_FAILED', 'CERT_FETCH_THROTTLED']);

/**
 * A subscription with raw message delivery posts the SES event itself, without SNS's envelope
 * and so without its signature: nothing proves it came from SNS. SNS marks it with a header;
 * a body that is an SES event rather than an SNS message is taken as one too.
 */
function isRawDelivery(headers: Record<string, unknown>, body: string): boolean {
  if (String(headers['x-amz-sns-rawdelivery'] ?? '').toLowerCase() === 'true') return true;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown> | null;
    return typeof parsed === 'object' && parsed !== null && !('Type' in parsed) && typeof parsed.mail === 'object';
  } catch {
    return false;
  }
}

export function sesEventRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { events } = deps;
  const trusted = deps.config.SNS_TRUSTED_CERT_URLS;

  // SNS posts JSON as text/plain; take the raw text whatever the content type says.
  router.post('/ses', express.text({ type: () => true, limit: '512kb' }), async (req, res) => {
    const body = typeof req.body === 'string' ? req.body : '';
    if (isRawDelivery(req.headers, body)) {
      deps.log.warn('sns raw message delivery refused', { topic: req.get('x-amz-sns-topic-arn') });
      return sendError(
        res,
        400,
        'RAW_MESSAGE_DELIVERY',
        'This SNS subscription delivers raw messages, which carry no SNS signature and cannot be verified. Set the subscription attribute RawMessageDelivery to false.',
      );
    }
    let message: SnsMessage;
    try {
      message = parseSnsMessage(body);
    } catch (error) {
      return sendError(res, 400, 'INVALID_SNS_MESSAGE', (error as Error).message);
    }
    try {
      // Certificate downloads are charged to the posting address (behind a proxy: TRUST_PROXY).
      await events.verifier.verify(message, req.ip ?? req.socket.remoteAddress);
    } catch (error) {
      if (error instanceof SnsVerificationError) {
        deps.log.warn('sns message refused', { reason: error.reason, topic: message.TopicArn, sns_message_id: message.MessageId });
        // SNS retries only 5xx: a certificate we could not get now is worth another attempt,
        // a message refused on its content would be refused again.
        if (RETRYABLE.has(error.reason)) {
          res.setHeader('Retry-After', String(Math.max(1, Math.ceil((error.retryAfterMs ?? 15_000) / 1000))));
          return sendError(res, 503, error.reason, error.message);
        }
        return sendError(res, 403, error.reason, error.message);
      }
      throw error;
    }
    if (message.Type === 'SubscriptionConfirmation') {
      if (!message.SubscribeURL || !isAllowedSubscribeUrl(message.SubscribeURL, trusted)) {
        return sendError(res, 403, 'UNTRUSTED_SUBSCRIBE_URL', 'SubscribeURL is not an Amazon SNS URL.');
      }
      const confirm = await fetch(message.SubscribeURL, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
      if (!confirm.ok) return sendError(res, 502, 'CONFIRMATION_FAILED', `SNS answered ${confirm.status} to the confirmation.`);
      deps.log.info('sns subscription confirmed', { topic: message.TopicArn });
      return res.json({ confirmed: true });
    }
    if (message.Type === 'UnsubscribeConfirmation') {
      deps.log.warn('sns subscription removed', { topic: message.TopicArn });
      return res.json({ acknowledged: true });
    }
    let payload: unknown;
    try {
      payload = JSON.parse(message.Message);
    } catch {
      payload = undefined;
    }
    const event = sesEventSchema.safeParse(payload);
    if (!event.success) {
      // Signed and ours, but not an SES event (a test message, say): acknowledge so SNS stops retrying.
      deps.log.warn('sns notification is not an SES event', { sns_message_id: message.MessageId });
      return res.json({ result: 'ignored' });
    }
    // No SNS-level dedupe table: applying an event is idempotent by itself (each event type
    // sets its flag once), which also covers SES sending the same event twice. The SNS
    // Timestamp, kept on every redelivery, dates an event that carries no time of its own.
    const result = await events.process(event.data, { publishedAt: message.Timestamp });
    res.json({ result });
  });
  return router;
}
