// Unit tests for SNS message parsing, Amazon's canonical string-to-sign and cert URL checks.
import { describe, expect, it } from 'vitest';
import { isAmazonSnsCertUrl, parseSnsMessage, snsStringToSign, type SnsMessage } from '../../src/domain/sns-message';

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
  ])('rejects %s', (_name, body, message) => {
    expect(() => parseSnsMessage(body)).toThrow(message);
  });
});

describe('isAmazonSnsCertUrl', () => {
  it.each([
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem',
    'https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem',
    'https://sns.eu-west-1.amazonaws.com:443/x.pem',
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
  ])('rejects %s', (url) => {
    expect(isAmazonSnsCertUrl(url)).toBe(false);
  });
});
