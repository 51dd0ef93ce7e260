// Amazon SES v2 behind a narrow messenger interface, with SES errors sorted into the four kinds
// the send path treats differently: throttled (released and retried), transient (retried after
// the grace period: SES may have it), recipient rejected (the message fails), account-level (the campaign fails).
import {
  GetConfigurationSetEventDestinationsCommand,
  SendEmailCommand,
  type EventDestination,
  type SendEmailCommandInput,
  type SESv2Client,
} from '@aws-sdk/client-sesv2';
import { AWS_TIMEOUTS } from './aws';

export interface OutgoingEmail {
  from: string;
  to: string;
  replyTo?: string;
  subject: string;
  html: string;
  text?: string;
  headers: Record<string, string>;
  tags: Record<string, string>;
  /** The sender identity SES must send as (FromEmailAddressIdentityArn): the one that covers `from`. */
  fromIdentityArn?: string;
  /** The tenant's (or its identity's) configuration set, instead of the engine's. */
  configurationSet?: string;
}

export type SendErrorKind = 'throttled' | 'recipient' | 'account' | 'transient';

export class SendError extends Error {
  constructor(
    readonly kind: SendErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SendError';
  }
}

export interface Messenger {
  /**
   * Hands one message to SES. `signal` aborts the call (the attempt was given up on); an
   * aborted or timed-out call is ambiguous: SES may have the message.
   */
  send(email: OutgoingEmail, signal?: AbortSignal): Promise<{ messageId: string }>;
}

const THROTTLED = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException']);
const RECIPIENT = new Set(['MessageRejected', 'BadRequestException', 'MailFromDomainNotVerifiedException']);
const ACCOUNT = new Set([
  'AccountSuspendedException',
  'SendingPausedException',
  'NotFoundException', // configuration set missing
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
]);

export function classifySesError(error: unknown): SendError {
  const name = (error as { name?: string }).name ?? 'Error';
  const message = (error as { message?: string }).message ?? String(error);
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (THROTTLED.has(name) || status === 429) return new SendError('throttled', name, message);
  if (ACCOUNT.has(name) || status === 403) return new SendError('account', name, message);
  if (RECIPIENT.has(name) || status === 400) return new SendError('recipient', name, message);
  return new SendError('transient', name, message);
}

// SES tag values allow only [A-Za-z0-9_-.@]: ids are kept to that alphabet.
const tagValue = (v: string) => v.replace(/[^A-Za-z0-9_.@-]/g, '_').slice(0, 256);

/** The SendEmail request for one message; the engine's configuration set unless the email names its own. */
export function sendEmailInput(email: OutgoingEmail, defaultConfigurationSet: string | undefined): SendEmailCommandInput {
  return {
    FromEmailAddress: email.from,
    ...(email.fromIdentityArn ? { FromEmailAddressIdentityArn: email.fromIdentityArn } : {}),
    Destination: { ToAddresses: [email.to] },
    ReplyToAddresses: email.replyTo ? [email.replyTo] : undefined,
    ConfigurationSetName: email.configurationSet ?? defaultConfigurationSet,
    EmailTags: Object.entries(email.tags).map(([Name, Value]) => ({ Name, Value: tagValue(Value) })),
    Content: {
      Simple: {
        Subject: { Data: email.subject, Charset: 'UTF-8' },
        Body: {
          Html: { Data: email.html, Charset: 'UTF-8' },
          ...(email.text ? { Text: { Data: email.text, Charset: 'UTF-8' } } : {}),
        },
        Headers: Object.entries(email.headers).map(([Name, Value]) => ({ Name, Value })),
      },
    },
  };
}

export class SesMessenger implements Messenger {
  constructor(
    readonly ses: SESv2Client,
    readonly configurationSet: string | undefined,
  ) {}

  async send(email: OutgoingEmail, signal?: AbortSignal): Promise<{ messageId: string }> {
    try {
      const result = await this.ses.send(
        new SendEmailCommand(sendEmailInput(email, this.configurationSet)),
        // The request timeout ends a hung call; this ends it too should a handler not honour it.
        {
          abortSignal: signal
            ? AbortSignal.any([signal, AbortSignal.timeout(AWS_TIMEOUTS.sesRequestMs + 1_000)])
            : AbortSignal.timeout(AWS_TIMEOUTS.sesRequestMs + 1_000),
        },
      );
      if (!result.MessageId) throw new SendError('transient', 'NoMessageId', 'SES returned no MessageId');
      return { messageId: result.MessageId };
    } catch (error) {
      if (error instanceof SendError) throw error;
      throw classifySesError(error);
    }
  }
}

/** Whether any enabled event destination of the configuration set receives Send events. */
export function publishesSendEvents(destinations: readonly EventDestination[]): boolean {
  return destinations.some((d) => d.Enabled !== false && (d.MatchingEventTypes ?? []).includes('SEND'));
}

/**
 * Asks SES whether the configuration set publishes Send events: the evidence that settles a
 * message an attempt left SENDING. 'unknown' when SES cannot tell (no configuration set, or
 * the call failed).
 */
export async function checkSendEvents(
  ses: SESv2Client,
  configurationSet: string | undefined,
): Promise<'published' | 'missing' | 'unknown'> {
  if (!configurationSet) return 'missing';
  try {
    const { EventDestinations } = await ses.send(
      new GetConfigurationSetEventDestinationsCommand({ ConfigurationSetName: configurationSet }),
    );
    return publishesSendEvents(EventDestinations ?? []) ? 'published' : 'missing';
  } catch {
    return 'unknown';
  }
}
