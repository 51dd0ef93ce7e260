// Unit tests for SNS message parsing, Amazon's canonical string-to-sign, cert URL checks and
// the Timestamp window.
import { describe, expect, it } from 'vitest';
import {
  isAmazonSnsCertUrl,
  isAmazonSnsHostUrl,
  isUnderTrustedPrefix,
  parseSnsMessage,
  snsStringToSign,
  snsTimestampProblem,
  type SnsMessage,
} from '../../src/domain/sns-message';

const notification: SnsMessage = {
  Type: 'Notification',
  MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
  TopicArn: 'arn:aws:sns:us-west-2:123456789012:MyTopic',
  Subject: 'My First Message',
  Message: 'Hello world!',
  Timestamp: '2012-05-02T00:54:06.655Z',
  SignatureVersion: '1',
  Signature: 'EXAMPLEw6JRN...',
  SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem',
  UnsubscribeURL:
    'https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0',
};

const confirmation: SnsMessage = {
  Type: 'SubscriptionConfirmation',
  MessageId: '165545c9-2a5c-472c-8df2-7ff2be2b3b1b',
  Token:
    '2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736',
  TopicArn: 'arn:aws:sns:us-west-2:123456789012:MyTopic',
  Message:
    'You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.',
  SubscribeURL:
    'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37',
  Timestamp: '2012-04-26T20:45:04.751Z',
  SignatureVersion: '1',
  Signature:
    'EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=',
  SigningCertURL: 'https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem',
};

describe('snsStringToSign', () => {
  it('signs a Notification over Message, MessageId, Subject, Timestamp, TopicArn, Type', () => {
    expect(snsStringToSign(notification)).toBe(
      'Message\nHello world!\n' +
        'MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n' +
        'Subject\nMy First Message\n' +
        'Timestamp\n2012-05-02T00:54:06.655Z\n' +
        'TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n' +
        'Type\nNotification\n',
    );
  });

  it('leaves Subject out of a Notification that has none', () => {
    const { Subject: _subject, ...withoutSubject } = notification;
    expect(snsStringToSign(withoutSubject)).toBe(
      'Message\nHello world!\n' +
        'MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n' +
        'Timestamp\n2012-05-02T00:54:06.655Z\n' +
        'TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n' +
        'Type\nNotification\n',
    );
  });

  it('signs a SubscriptionConfirmation over SubscribeURL and Token, not Subject', () => {
    expect(snsStringToSign({ ...confirmation, Subject: 'ignored' })).toBe(
      `Message\n${confirmation.Message}\n` +
        'MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n' +
        `SubscribeURL\n${confirmation.SubscribeURL}\n` +
        'Timestamp\n2012-04-26T20:45:04.751Z\n' +
        `Token\n${confirmation.Token}\n` +
        'TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n' +
        'Type\nSubscriptionConfirmation\n',
    );
  });

  it('signs an UnsubscribeConfirmation with the same keys', () => {
    const unsubscribe: SnsMessage = { ...confirmation, Type: 'UnsubscribeConfirmation' };
    expect(snsStringToSign(unsubscribe)).toBe(
      snsStringToSign(confirmation).replace('Type\nSubscriptionConfirmation\n', 'Type\nUnsubscribeConfirmation\n'),
    );
  });
});

describe('parseSnsMessage', () => {
  it('accepts a notification as an object or as the raw text body, dropping unsigned extras', () => {
    const raw = { ...notification, MessageAttributes: { a: { Type: 'String', Value: 'b' } } };
    expect(parseSnsMessage(raw)).toEqual(notification);
    expect(parseSnsMessage(JSON.stringify(raw))).toEqual(notification);
  });

  it('treats a null Subject as absent', () => {
    const parsed = parseSnsMessage({ ...notification, Subject: null });
    expect('Subject' in parsed).toBe(false);
  });

  it('accepts a subscription confirmation', () => {
    expect(parseSnsMessage(confirmation)).toEqual(confirmation);
  });

  it.each([
    ['not JSON', '{nope', /not JSON/],
    ['not an object', 42, /invalid SNS message/],
    ['an unknown Type', { ...notification, Type: 'Other' }, /Type/],
    ['a missing Signature', { ...notification, Signature: undefined }, /Signature/],
    ['an unsupported SignatureVersion', { ...notification, SignatureVersion: '3' }, /SignatureVersion/],
    ['a numeric Message', { ...notification, Message: 7 }, /Message/],
    ['a confirmation without SubscribeURL', { ...confirmation, SubscribeURL: undefined }, /SubscribeURL/],
    ['a confirmation without Token', { ...confirmation, Token: '' }, /Token/],
    [
      "a Timestamp that is not SNS's ISO 8601 UTC form",
      { ...notification, Timestamp: 'May 2 2012 00:54:06' },
      /Timestamp: must be an ISO 8601/,
    ],
    ['a Timestamp with an offset instead of Z', { ...notification, Timestamp: '2012-05-02T01:54:06.655+01:00' }, /Timestamp/],
    ['an impossible Timestamp', { ...notification, Timestamp: '2012-13-45T00:54:06.655Z' }, /Timestamp/],
  ])('rejects %s', (_name, body, message) => {
    expect(() => parseSnsMessage(body)).toThrow(message);
  });
});

describe('isAmazonSnsCertUrl', () => {
  const HEX = 'f3ecfb7224c7233fe7bb5f59f96de52f';
  const CERT_FILE = `SimpleNotificationService-${HEX}.pem`;

  it.each([
    `https://sns.us-east-1.amazonaws.com/${CERT_FILE}`,
    `https://sns.us-gov-west-1.amazonaws.com/${CERT_FILE}`,
    `https://sns.cn-north-1.amazonaws.com.cn/${CERT_FILE}`,
    `https://sns.ap-southeast-2.amazonaws.com/${CERT_FILE}`,
    `https://sns.il-central-1.amazonaws.com/${CERT_FILE}`,
    `https://sns.us-gov-east-1.amazonaws.com/${CERT_FILE}`,
    `https://sns.cn-northwest-1.amazonaws.com.cn/${CERT_FILE}`,
    notification.SigningCertURL,
  ])('accepts %s', (url) => {
    expect(isAmazonSnsCertUrl(url)).toBe(true);
  });

  it.each([
    'https://sns.us-east-1.amazonaws.com.evil.com/x.pem',
    'http://sns.us-east-1.amazonaws.com/x.pem',
    'https://evil.com/sns.us-east-1.amazonaws.com/x.pem',
    'https://evil.com/?host=sns.us-east-1.amazonaws.com/x.pem',
    'https://sns.us-east-1.amazonaws.com@evil.com/x.pem',
    'https://user:pass@sns.us-east-1.amazonaws.com/x.pem',
    'https://sns.us-east-1.amazonaws.com:8443/x.pem',
    'https://sns.us-east-1.amazonaws.com/x.txt',
    'https://sns.us-east-1.amazonaws.com/',
    'https://sns.amazonaws.com/x.pem',
    'https://evilsns.us-east-1.amazonaws.com/x.pem',
    'https://sns.us-east-1.amazonaws.com./x.pem',
    'file:///etc/sns.us-east-1.amazonaws.com.pem',
    'not a url',
    '',
    // An S3 bucket named "sns" (virtual-hosted), and other services' names where a region goes.
    'https://sns.s3.amazonaws.com/x.pem',
    'https://sns.s3-external-1.amazonaws.com/x.pem',
    'https://sns.s3.us-east-1.amazonaws.com/x.pem',
    'https://sns.execute-api.amazonaws.com/x.pem',
    'https://sns.us-east-1a.amazonaws.com/x.pem',
    'https://sns.us-middle-1.amazonaws.com/x.pem',
    // A region in the wrong partition.
    'https://sns.us-east-1.amazonaws.com.cn/x.pem',
    'https://sns.cn-north-1.amazonaws.com/x.pem',
    // Lookalikes, schemes and ports.
    'https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-abc.pem',
    'https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://xsns.us-east-1.amazonaws.com/x.pem',
    'https://sns.us-east-1.amazonaws.co/x.pem',
    'http://sns.us-east-1.amazonaws.com:443/x.pem',
    'https://sns.us-east-1.amazonaws.com:80/x.pem',
    'ftp://sns.us-east-1.amazonaws.com/x.pem',
    // Userinfo pointing elsewhere, and paths that are not one certificate file at the root.
    'https://sns.us-east-1.amazonaws.com@evil.com/x.pem',
    'https://sns.us-east-1.amazonaws.com:@evil.com/x.pem',
    'https://sns.us-east-1.amazonaws.com/x.pem?redirect=https://evil.com',
    'https://sns.us-east-1.amazonaws.com/x.pem#fragment',
    'https://sns.us-east-1.amazonaws.com/bucket/x.pem',
    'https://sns.us-east-1.amazonaws.com/.pem/x',
    // Other spellings of a certificate URL (they would each be a cache entry and a download of
    // their own): only the canonical form, lowercase host and no port, is taken.
    `https://SnS.us-east-1.amazonAwS.com:443/${CERT_FILE}`,
    `https://SNS.US-EAST-1.AMAZONAWS.COM/${CERT_FILE}`,
    `https://sns.eu-west-1.amazonaws.com:443/${CERT_FILE}`,
    `https://sns.eu-west-1.amazonaws.com/${CERT_FILE}?`,
    `https://sns.eu-west-1.amazonaws.com/${CERT_FILE}#`,
    `https://sns.eu-west-1.amazonaws.com//${CERT_FILE}`,
    `https://sns.eu-west-1.amazonaws.com/./${CERT_FILE}`,
    `https://sns.eu-west-1.amazonaws.com/%53impleNotificationService-${HEX}.pem`,
    // File names that are not SNS's SimpleNotificationService-<32 hex digits>.pem.
    'https://sns.us-east-1.amazonaws.com/x.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem',
    `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-${HEX}0.pem`,
    `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-${HEX.toUpperCase()}.pem`,
    `https://sns.us-east-1.amazonaws.com/simplenotificationservice-${HEX}.pem`,
    `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-${HEX}.PEM`,
    `https://sns.us-east-1.amazonaws.com/x-SimpleNotificationService-${HEX}.pem`,
  ])('rejects %s', (url) => {
    expect(isAmazonSnsCertUrl(url)).toBe(false);
  });
});

describe('isAmazonSnsHostUrl (SubscribeURL)', () => {
  it('takes an SNS endpoint over https with any path and query', () => {
    expect(isAmazonSnsHostUrl('https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=x')).toBe(true);
    expect(isAmazonSnsHostUrl('https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription')).toBe(true);
  });

  it.each([
    'https://sns.s3.amazonaws.com/?Action=ConfirmSubscription',
    'http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription',
    'https://sns.us-west-2.amazonaws.com:8443/?Action=ConfirmSubscription',
    'https://sns.us-west-2.amazonaws.com@evil.com/?Action=ConfirmSubscription',
    'https://sns.us-west-2.amazonaws.com.evil.com/?Action=ConfirmSubscription',
  ])('rejects %s', (url) => {
    expect(isAmazonSnsHostUrl(url)).toBe(false);
  });
});

describe('isUnderTrustedPrefix', () => {
  it('matches scheme, host and port exactly and the path as a prefix', () => {
    expect(isUnderTrustedPrefix('http://127.0.0.1:4567/certs/a.pem', 'http://127.0.0.1:4567/certs/')).toBe(true);
    expect(isUnderTrustedPrefix('http://127.0.0.1:4567/confirm?Action=x', 'http://127.0.0.1:4567/confirm')).toBe(true);
    expect(isUnderTrustedPrefix('http://127.0.0.1:4567/a.pem', 'http://127.0.0.1:4567')).toBe(true);
  });

  it.each([
    ['another port starting with the same digits', 'http://127.0.0.1:45678/a.pem', 'http://127.0.0.1:4567'],
    ['userinfo making the prefix text a user name', 'http://127.0.0.1:4567@evil.example/a.pem', 'http://127.0.0.1:4567'],
    ['userinfo on the right host', 'http://u:p@127.0.0.1:4567/a.pem', 'http://127.0.0.1:4567/'],
    ['another scheme', 'https://127.0.0.1:4567/a.pem', 'http://127.0.0.1:4567/'],
    ['another path', 'http://127.0.0.1:4567/other/a.pem', 'http://127.0.0.1:4567/certs/'],
    ['a prefix that is not a URL', 'http://127.0.0.1:4567/a.pem', '127.0.0.1'],
  ])('rejects %s', (_name, url, prefix) => {
    expect(isUnderTrustedPrefix(url, prefix)).toBe(false);
  });
});

describe('snsTimestampProblem', () => {
  const now = Date.parse('2026-01-01T12:00:00.000Z');
  const window = { maxAgeMs: 3600_000, skewMs: 300_000 };
  const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();

  it('takes anything from an hour plus the skew ago to the skew ahead, bounds included', () => {
    for (const offset of [0, -3600_000, -3900_000, 300_000, -1]) expect(snsTimestampProblem(at(offset), now, window)).toBeUndefined();
  });

  it('refuses older messages as stale and later ones as from the future', () => {
    expect(snsTimestampProblem(at(-3900_001), now, window)).toBe('STALE_MESSAGE');
    expect(snsTimestampProblem(at(-30 * 24 * 3600_000), now, window)).toBe('STALE_MESSAGE');
    expect(snsTimestampProblem(at(300_001), now, window)).toBe('FUTURE_MESSAGE');
  });

  it('refuses what is not an SNS timestamp', () => {
    for (const t of ['', 'yesterday', '2026-01-01', '2026-01-01T12:00:00', '2026-01-01T13:00:00+01:00', '2026-02-30T25:00:00Z']) {
      expect(snsTimestampProblem(t, now, window), t).toBe('INVALID_TIMESTAMP');
    }
    expect(snsTimestampProblem('2026-01-01T12:00:00Z', now, window)).toBeUndefined();
  });
});
