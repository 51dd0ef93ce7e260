// Posting SES events to the engine's SNS endpoint the way Amazon SNS does: signed by the local
// signer as Notifications, posted as text/plain. Shared by the tests that play SNS themselves.
import { randomUUID } from 'node:crypto';
import type { SnsMessage } from '../../src/domain/sns-message';
import type { SnsSigner } from '../../src/local/sns-signer';

/** POSTs an SNS message (or a raw body) to the engine's SES event endpoint. */
export const postSnsMessage = (apiUrl: string, message: SnsMessage | string) =>
  fetch(`${apiUrl}/api/v1/events/ses`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' },
    body: typeof message === 'string' ? message : JSON.stringify(message),
  });

/**
 * `event` as a signed SNS Notification: a new SNS message (fresh MessageId, Timestamp now) unless
 * told otherwise. A redelivery by SNS is the very same signed object posted again.
 */
export const signedNotification = (signer: SnsSigner, event: unknown, fields: { MessageId?: string; Timestamp?: string } = {}) =>
  signer.sign({
    Type: 'Notification',
    MessageId: fields.MessageId ?? randomUUID(),
    TopicArn: signer.topicArn,
    Message: JSON.stringify(event),
    Timestamp: fields.Timestamp ?? new Date().toISOString(),
  });
