import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { pacing } from '../../src/contracts';
import { classifySesError } from '../../src/adapters/ses';
import { isPrivateAddress } from '../../api/callback-url';

describe('config', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.TEMPORAL_NAMESPACE).toBe('default');
    expect(config.BATCH_SIZE).toBeLessThanOrEqual(1000);
  });

  it('names the bad variable and its value', () => {
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'abc' })).toThrow(/PORT: .*"abc"/);
    expect(() => loadConfig({ BATCH_SIZE: '5000' })).toThrow(/BATCH_SIZE/);
    expect(() => loadConfig({ DYNAMODB_ENDPOINT: 'not a url' })).toThrow(/DYNAMODB_ENDPOINT/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '' }).PORT).toBe(3000);
  });
});

describe('campaign throttle', () => {
  it('paces chunks of at most a second of mail, one batch slot after another', () => {
    // 600/min = 10/s: chunks of 10; three batches each send a chunk every 3 s, 1 s apart.
    expect(pacing({ emails_per_minute: 600 }, 50, 3)).toEqual({ chunkSize: 10, intervalMs: 3000, staggerMs: 1000 });
    expect(pacing({ emails_per_minute: 600 }, 5, 1)).toEqual({ chunkSize: 5, intervalMs: 500, staggerMs: 500 });
    expect(pacing({ emails_per_hour: 3600 }, 50, 1)).toEqual({ chunkSize: 1, intervalMs: 1000, staggerMs: 1000 });
    // The stricter of the two limits wins.
    expect(pacing({ emails_per_minute: 600, emails_per_hour: 60 }, 50, 1)).toEqual({ chunkSize: 1, intervalMs: 60_000, staggerMs: 60_000 });
    expect(pacing(undefined, 50, 4)).toEqual({ chunkSize: 50, intervalMs: 0, staggerMs: 0 });
  });
});

describe('SES error classification', () => {
  const err = (name: string, status?: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it('retries throttling, fails the message on rejection, fails the campaign on account errors', () => {
    expect(classifySesError(err('TooManyRequestsException', 429)).kind).toBe('throttled');
    expect(classifySesError(err('LimitExceededException', 400)).kind).toBe('throttled');
    expect(classifySesError(err('MessageRejected', 400)).kind).toBe('recipient');
    expect(classifySesError(err('AccountSuspendedException', 400)).kind).toBe('account');
    expect(classifySesError(err('SendingPausedException', 400)).kind).toBe('account');
    expect(classifySesError(err('InternalFailure', 500)).kind).toBe('transient');
    expect(classifySesError(err('ECONNREFUSED')).kind).toBe('transient');
  });
});

describe('private addresses', () => {
  it('recognises loopback, private, link-local and mapped addresses', () => {
    for (const ip of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '::1',
      'fd00::1',
      '::ffff:10.0.0.1',
      '0.0.0.0',
    ]) {
      expect(isPrivateAddress(ip), ip).toBe(true);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '2001:4860:4860::8888']) expect(isPrivateAddress(ip), ip).toBe(false);
  });
});
