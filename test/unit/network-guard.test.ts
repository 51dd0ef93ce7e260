// The webhook SSRF guard's decisions without DNS: the special-purpose range table, how
// addresses are normalised, the callback URL check at campaign creation for literal hosts and
// refused names, and the configuration that turns the guard off (never in production).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCallbackUrl } from '../../api/callback-url';
import { STRICT_CALLBACK_POLICY } from '../../src/adapters/safe-http';
import { loadConfig } from '../../src/config';
import { DomainError } from '../../src/domain/errors';
import { callbackUrlProblem, forbiddenAddressReason, forbiddenHostNameReason, normaliseAddress } from '../../src/domain/network-guard';
import { ALLOWED_ADDRESSES, FORBIDDEN_ADDRESSES, forbiddenLiteralUrls, REPORTED_BYPASSES, urlHost } from '../support/ssrf-cases';

async function refusal(url: string, policy = STRICT_CALLBACK_POLICY): Promise<DomainError | undefined> {
  try {
    await checkCallbackUrl(url, policy);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return error as DomainError;
  }
}

describe('forbiddenAddressReason', () => {
  it.each(FORBIDDEN_ADDRESSES)('refuses %s (%s)', (address, range) => {
    expect(forbiddenAddressReason(address)).toContain(range);
  });

  it.each(ALLOWED_ADDRESSES)('allows %s', (address) => {
    expect(forbiddenAddressReason(address)).toBeUndefined();
  });

  it('refuses every bypass the issue reported, written as the URL parser leaves it', () => {
    for (const host of REPORTED_BYPASSES) {
      const parsed = new URL(`http://${host}/`).hostname;
      expect(forbiddenAddressReason(parsed), `${host} (parsed ${parsed})`).toBeDefined();
    }
    expect(new URL('http://[::ffff:127.0.0.1]/').hostname).toBe('[::ffff:7f00:1]');
  });

  it('refuses what is not an address at all', () => {
    expect(forbiddenAddressReason('example.com')).toBe('not an IP address');
    expect(forbiddenAddressReason('')).toBe('not an IP address');
  });
});

describe('normaliseAddress', () => {
  it('reads the forms a URL or a resolver gives', () => {
    expect(normaliseAddress('[::ffff:127.0.0.1]')).toBe('::ffff:7f00:1');
    expect(normaliseAddress('0:0:0:0:0:ffff:a9fe:a9fe')).toBe('::ffff:a9fe:a9fe');
    expect(normaliseAddress('FE80::1%eth0')).toBe('fe80::1');
    expect(normaliseAddress('[fe80::1%25en0]')).toBe('fe80::1');
    expect(normaliseAddress('0x7f.1')).toBe('127.0.0.1');
    expect(normaliseAddress('2130706433')).toBe('127.0.0.1');
    expect(normaliseAddress('0177.0.0.01')).toBe('127.0.0.1');
    expect(normaliseAddress('127.1')).toBe('127.0.0.1');
    expect(normaliseAddress(' 93.184.216.34 ')).toBe('93.184.216.34');
  });

  it('says undefined for names and for text that only contains an address', () => {
    for (const input of ['example.com', 'localhost', 'a@127.0.0.1', '127.0.0.1/x', '1.2.3.4.5', '[::1', 'deadbeef.com', '']) {
      expect(normaliseAddress(input), input).toBeUndefined();
    }
  });
});

describe('forbiddenHostNameReason and callbackUrlProblem', () => {
  it('refuses localhost and internal names before any lookup', () => {
    for (const name of ['localhost', 'LOCALHOST', 'localhost.', 'a.b.localhost', 'metadata.google.internal']) {
      expect(forbiddenHostNameReason(name), name).toBeDefined();
    }
    for (const name of ['example.com', 'localhost.example.com', 'internal.example.com']) {
      expect(forbiddenHostNameReason(name), name).toBeUndefined();
    }
  });

  it('accepts http and https without credentials only', () => {
    expect(callbackUrlProblem(new URL('https://hooks.example.com/x'))).toBeUndefined();
    expect(callbackUrlProblem(new URL('ftp://hooks.example.com/x'))).toMatch(/http or https/);
    expect(callbackUrlProblem(new URL('file:///etc/passwd'))).toMatch(/http or https/);
    expect(callbackUrlProblem(new URL('https://user:pw@hooks.example.com/x'))).toMatch(/credentials/);
  });
});

describe('checkCallbackUrl (campaign creation) for hosts that need no DNS', () => {
  it('answers 422 PRIVATE_CALLBACK_URL for every forbidden literal and name', async () => {
    for (const url of forbiddenLiteralUrls(8080)) {
      const error = await refusal(url);
      expect(error?.code, url).toBe('PRIVATE_CALLBACK_URL');
      expect(error?.kind, url).toBe('unprocessable');
    }
  });

  it('accepts public addresses', async () => {
    for (const address of ALLOWED_ADDRESSES) expect(await refusal(`https://${urlHost(address)}/hooks`), address).toBeUndefined();
  });

  it('answers 400 INVALID_CALLBACK_URL for a URL that is not one', async () => {
    for (const url of ['not a url', 'ftp://93.184.216.34/x', 'http://u:p@93.184.216.34/x', 'http://[fe80::1%25eth0]/x']) {
      const error = await refusal(url);
      expect(error?.code, url).toBe('INVALID_CALLBACK_URL');
      expect(error?.kind, url).toBe('invalid');
    }
  });

  it('lets private networks through only when the stack allows them', async () => {
    const local = { allowPrivateNetworks: true, dnsServers: [] };
    expect(await refusal('http://127.0.0.1:8080/hooks', local)).toBeUndefined();
    expect(await refusal('http://[::ffff:7f00:1]:8080/hooks', local)).toBeUndefined();
    expect((await refusal('ftp://127.0.0.1/hooks', local))?.code).toBe('INVALID_CALLBACK_URL');
  });
});

describe('callback configuration', () => {
  const env = (extra: Record<string, string> = {}) => ({ LOCAL_STACK_DIR: mkdtempSync(join(tmpdir(), 'guard-test-')), ...extra });

  it('refuses private networks by default in every mode', () => {
    for (const APP_ENV of ['local', 'test']) {
      const config = loadConfig(env({ APP_ENV }));
      expect(config.CALLBACK_ALLOW_PRIVATE_NETWORKS).toBe(false);
      expect(config.CALLBACK_DNS_SERVERS).toEqual([]);
    }
    expect(loadConfig(env({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true' })).CALLBACK_ALLOW_PRIVATE_NETWORKS).toBe(true);
  });

  it('never allows private networks in production', () => {
    expect(() => loadConfig(env({ APP_ENV: 'production', CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true' }))).toThrow(
      /CALLBACK_ALLOW_PRIVATE_NETWORKS: must be false in production/,
    );
  });

  it('reads resolvers as ip, ip:port or [v6]:port', () => {
    const config = loadConfig(env({ CALLBACK_DNS_SERVERS: '127.0.0.1:5353, 10.0.0.2,[::1]:53,2001:4860:4860::8888' }));
    expect(config.CALLBACK_DNS_SERVERS).toEqual(['127.0.0.1:5353', '10.0.0.2', '[::1]:53', '2001:4860:4860::8888']);
    for (const bad of ['dns.example.com', '127.0.0.1:99999', '[::1', '1.2.3.4:x']) {
      expect(() => loadConfig(env({ CALLBACK_DNS_SERVERS: bad })), bad).toThrow(/CALLBACK_DNS_SERVERS/);
    }
  });
});
