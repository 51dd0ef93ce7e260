import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, localSecret } from '../../src/config';
import { createLogger } from '../../src/logging';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { GetAccountCommand } from '@aws-sdk/client-sesv2';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { errorHandler } from '../../api/errors';
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

  it('trusts no proxy unless TRUST_PROXY names how many hops, and caps live API keys per tenant', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ TRUST_PROXY: 0, MAX_API_KEYS_PER_TENANT: 50 });
    expect(loadConfig({ TRUST_PROXY: '2', MAX_API_KEYS_PER_TENANT: '5' })).toMatchObject({ TRUST_PROXY: 2, MAX_API_KEYS_PER_TENANT: 5 });
    for (const bad of ['-1', '1.5', 'true', 'loopback', '11']) expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY/);
    for (const bad of ['0', '1001', 'many']) expect(() => loadConfig({ MAX_API_KEYS_PER_TENANT: bad })).toThrow(/MAX_API_KEYS_PER_TENANT/);
  });
});

describe('secure defaults', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'config-test-'));
  const production = {
    APP_ENV: 'production',
    UNSUBSCRIBE_SECRET: 'a-production-secret-0123456789',
    OPERATOR_TOKEN: 'an-operator-token-0123456789-0123456789',
    PUBLIC_BASE_URL: 'https://mail.example.com',
    SNS_TRUSTED_CERT_URLS: '',
  };

  it('refuses real AWS, remote endpoints or a remote Temporal outside production', () => {
    const remote: Record<string, string>[] = [
      { AWS_ENDPOINT_MODE: 'aws' },
      { TEMPORAL_ADDRESS: 'temporal.internal.example.com:7233' },
      { TEMPORAL_ADDRESS: '10.0.0.5:7233' },
      { TEMPORAL_API_KEY: 'key' },
      { TEMPORAL_TLS: 'true' },
      { DYNAMODB_ENDPOINT: 'https://dynamodb.eu-west-1.amazonaws.com' },
      { S3_ENDPOINT: 'http://minio.example.com:9000' },
      { SES_ENDPOINT: 'http://10.1.2.3:8005' },
      { OPENSEARCH_URL: 'https://search.example.com' },
    ];
    for (const env of remote) {
      const [variable] = Object.keys(env);
      for (const APP_ENV of ['local', 'test']) {
        expect(() => loadConfig({ LOCAL_STACK_DIR: dir(), APP_ENV, ...env }), `${variable} in ${APP_ENV}`).toThrow(
          new RegExp(`${variable}: points at a remote service`),
        );
      }
      expect(() => loadConfig({ ...production, ...env })).not.toThrow();
    }
    // This machine's own services are fine: the local stack.
    const local = loadConfig({ LOCAL_STACK_DIR: dir(), TEMPORAL_ADDRESS: '127.0.0.1:7233', DYNAMODB_ENDPOINT: 'http://localhost:8000' });
    expect(local.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
  });

  it('production needs an operator token besides its other settings', () => {
    const { OPERATOR_TOKEN: _, ...withoutToken } = production;
    expect(() => loadConfig(withoutToken)).toThrow(/OPERATOR_TOKEN: is required in production/);
    expect(() => loadConfig({ ...production, OPERATOR_TOKEN: 'short' })).toThrow(/OPERATOR_TOKEN/);
  });

  it('never falls back to a fixed unsubscribe secret: one is generated per local stack and kept', () => {
    const [one, two] = [dir(), dir()];
    const first = loadConfig({ LOCAL_STACK_DIR: one }).UNSUBSCRIBE_SECRET!;
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The worker and the API of one stack read the same file; another stack has its own.
    expect(loadConfig({ LOCAL_STACK_DIR: one }).UNSUBSCRIBE_SECRET).toBe(first);
    expect(loadConfig({ LOCAL_STACK_DIR: two }).UNSUBSCRIBE_SECRET).not.toBe(first);
    expect(readFileSync(join(one, 'unsubscribe.secret'), 'utf8')).toBe(first);
    expect(statSync(join(one, 'unsubscribe.secret')).mode & 0o777).toBe(0o600);
    expect(first).not.toBe(localSecret(one, 'other'));
  });

  it('binds the API to loopback unless HOST says otherwise, and another address needs an operator token', () => {
    expect(loadConfig({ LOCAL_STACK_DIR: dir() }).HOST).toBe('127.0.0.1');
    expect(() => loadConfig({ LOCAL_STACK_DIR: dir(), HOST: '0.0.0.0' })).toThrow(/HOST: is not a loopback address/);
    expect(loadConfig({ LOCAL_STACK_DIR: dir(), HOST: '0.0.0.0', OPERATOR_TOKEN: 'x'.repeat(32) }).HOST).toBe('0.0.0.0');
  });

  it('in local mode, a client without its endpoint refuses every call instead of reaching real AWS', async () => {
    const aws = createAwsClients({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_MODE: 'local', SES_ENDPOINT: 'http://127.0.0.1:9' });
    try {
      await expect(aws.dynamo.send(new ListTablesCommand({}))).rejects.toThrow(/DYNAMODB_ENDPOINT is unset with AWS_ENDPOINT_MODE=local/);
      await expect(aws.s3.send(new ListBucketsCommand({}))).rejects.toThrow(/S3_ENDPOINT is unset/);
      await expect(getSignedUrl(aws.s3, new PutObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toThrow(/S3_ENDPOINT is unset/);
      // The configured one is used as before (nothing listens on port 9: a connection error, not the refusal).
      await expect(aws.ses.send(new GetAccountCommand({}))).rejects.not.toThrow(/is unset/);
    } finally {
      destroyAwsClients(aws);
    }
  });

  it('counts *.localhost endpoints and SigV4 OpenSearch as remote', () => {
    expect(() => loadConfig({ LOCAL_STACK_DIR: dir(), DYNAMODB_ENDPOINT: 'http://db.localhost:8000' })).toThrow(/DYNAMODB_ENDPOINT/);
    expect(() => loadConfig({ LOCAL_STACK_DIR: dir(), OPENSEARCH_AWS_REGION: 'eu-west-1' })).toThrow(/OPENSEARCH_AWS_REGION/);
  });
});

describe('logs', () => {
  it('redact anything shaped like an address, wherever it is in the line', () => {
    const lines: string[] = [];
    const log = createLogger({}, 'info', (line) => lines.push(line));
    log.error('send failed', {
      error: new Error(
        "Email address is not verified: ceo+x@tenant-b.example.com (o'brien@mail.example.org, john!smith@corp.com, a/b=c@d.io, path /u/x%40y.com)",
      ),
      nested: { to: ['a.b@c.io'] },
      route: '/u/:token',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/@|%40|john|smith|brien/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ nested: { to: ['[address]'] }, route: '/u/:token' });
  });

  it('name the route pattern of an unhandled error, never its path', () => {
    const lines: string[] = [];
    const handler = errorHandler(createLogger({}, 'info', (line) => lines.push(line)));
    const res = { status: () => res, json: () => res } as never;
    const req = { method: 'POST', baseUrl: '/u', route: { path: '/:token' }, path: '/dG9rZW4tb2YtYUBiLmNvbQ' } as never;
    handler(new Error('boom'), req, res, () => undefined);
    expect(lines[0]).toContain('"route":"/u/:token"');
    expect(lines[0]).not.toContain('dG9rZW4tb2YtYUBiLmNvbQ');
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
