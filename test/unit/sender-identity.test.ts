// Sender identities as pure logic (issue 14, item 1): what an identity and a `from` are, which
// identity covers an address (never a subdomain), the registrable domain a claim holds, when an
// unverified claim has expired, the DNS records a domain's owner publishes, the sender check on
// stand-in ports (ownership, SES verification, reply_to, the configuration sets a tenant may
// use), the SendEmail request it leads to, and the AWS verifier's reading of SES's answers on a
// stand-in SES client.
import { describe, expect, it } from 'vitest';
import { AlreadyExistsException, NotFoundException, type GetEmailIdentityResponse } from '@aws-sdk/client-sesv2';
import type { IdentityRecord } from '../../src/adapters/dynamo/types';
import { AwsIdentityVerifier, LocalIdentityVerifier, localDkimTokens, type IdentityState } from '../../src/adapters/identity-verifier';
import { sendEmailInput, type OutgoingEmail } from '../../src/adapters/ses';
import {
  allowedConfigurationSets,
  claimExpired,
  claimRootOf,
  coveringIdentity,
  dnsRecordsFor,
  domainOfIdentity,
  parseIdentity,
  parseMailbox,
} from '../../src/domain/sender-identity';
import { checkSenders } from '../../src/identities/sender-identities';

const at = '2026-01-01T00:00:00.000Z';
const identity = (name: string, extra: Partial<IdentityRecord> = {}): IdentityRecord => ({
  tenant_id: 't1',
  identity: name,
  type: name.includes('@') ? 'EMAIL_ADDRESS' : 'DOMAIN',
  verified_for_sending: true,
  verification_status: 'SUCCESS',
  dkim_tokens: [],
  created_at: at,
  updated_at: at,
  ...extra,
});

describe('identities and mailboxes', () => {
  it('parses a domain or an address, lowercased, and nothing else', () => {
    expect(parseIdentity('Example.COM')).toEqual({ identity: 'example.com', type: 'DOMAIN' });
    expect(parseIdentity('News@Example.com')).toEqual({ identity: 'news@example.com', type: 'EMAIL_ADDRESS' });
    for (const bad of [
      '',
      'com',
      'example',
      'example.com.',
      '-example.com',
      'exa mple.com',
      '@example.com',
      'a@b@example.com',
      ' example.com',
      '127.0.0.1',
      'x'.repeat(250) + '.com',
      // Public suffixes: nobody's to claim (each would hold every domain under it).
      'co.uk',
      'github.io',
      'news@co.uk',
    ])
      expect(parseIdentity(bad), bad).toBeNull();
    expect(domainOfIdentity('news@example.com')).toBe('example.com');
    expect(domainOfIdentity('example.com')).toBe('example.com');
  });

  it('reads a from as one mailbox, and refuses a display name that carries an address', () => {
    expect(parseMailbox('Sender@Example.com')).toEqual({ address: 'sender@example.com' });
    expect(parseMailbox('<sender@example.com>')).toEqual({ address: 'sender@example.com' });
    expect(parseMailbox('News Desk <news@example.com>')).toEqual({ address: 'news@example.com', name: 'News Desk' });
    expect(parseMailbox('"Doe, Jane \\"JD\\"" <jane@example.com>')).toEqual({ address: 'jane@example.com', name: 'Doe, Jane "JD"' });
    expect(parseMailbox('Zoë <z@example.com>')).toEqual({ address: 'z@example.com', name: 'Zoë' });
    for (const bad of [
      '"ceo@tenant-b.com" <me@example.com>', // reads as another address
      'ceo@tenant-b.com <me@example.com>',
      '<a@example.com>, <b@tenant-b.com>', // two mailboxes
      'a@example.com, b@tenant-b.com',
      'Doe, Jane <jane@example.com>', // an unquoted comma: a list
      'News <not an address>',
      'nobody',
    ])
      expect(parseMailbox(bad), bad).toBeNull();
  });

  it('refuses a display name that an encoded-word, a look-alike @ or a control character would make read as an address', () => {
    for (const bad of [
      // RFC 2047 encoded-words: a mail client shows `ceo@bank.com`.
      '=?utf-8?q?ceo=40bank.com?= <news@mine.com>',
      '=?utf-8?B?Y2VvQGJhbmsuY29t?= <news@mine.com>',
      '"=?utf-8?q?ceo=40bank.com?=" <news@mine.com>',
      'News =?utf-8?q?x?= <news@mine.com>',
      // Look-alikes of @ that NFKC folds to it: fullwidth and small commercial at.
      'ceo\uFF20bank.com <news@mine.com>',
      '"ceo\uFF20bank.com" <news@mine.com>',
      'ceo\uFE6Bbank.com <news@mine.com>',
      // C0 and C1 controls in a quoted name (raw or escaped), and bidi controls that reorder what is shown.
      '"News\tDesk" <news@mine.com>',
      '"News\u0000" <news@mine.com>',
      '"News\\\u0000" <news@mine.com>',
      '"News\u007F" <news@mine.com>',
      'News\u0085Desk <news@mine.com>',
      '"News \u202Emoc.knab" <news@mine.com>',
      'News\u202ADesk <news@mine.com>',
      'News\u2066Desk\u2069 <news@mine.com>',
      'News\u200FDesk <news@mine.com>',
    ])
      expect(parseMailbox(bad), JSON.stringify(bad)).toBeNull();
    // Letters NFKC folds (fullwidth) and other non-ASCII names are still names.
    expect(parseMailbox('\uFF2E\uFF45\uFF57\uFF53 <news@mine.com>')).toEqual({
      address: 'news@mine.com',
      name: '\uFF2E\uFF45\uFF57\uFF53',
    });
    expect(parseMailbox('"Café = Bar?" <news@mine.com>')).toEqual({ address: 'news@mine.com', name: 'Café = Bar?' });
  });

  it('a claim holds the registrable domain (by the public suffix list): a parent, its subdomains and addresses at them', () => {
    expect(claimRootOf('example.com')).toBe('example.com');
    expect(claimRootOf('news.example.com')).toBe('example.com');
    expect(claimRootOf('ceo@a.b.example.com')).toBe('example.com');
    expect(claimRootOf('news.bank.co.uk')).toBe('bank.co.uk');
    // A private suffix: each user's domain is its own.
    expect(claimRootOf('alice.github.io')).toBe('alice.github.io');
    expect(claimRootOf('bob.github.io')).toBe('bob.github.io');
    expect(claimRootOf('dom-1.example')).toBe('dom-1.example');
  });

  it('an unverified claim expires once its oldest identity is older than the TTL and none of them is verified', () => {
    const hour = 3600_000;
    const t0 = Date.parse(at);
    const pending = (createdAt: number) =>
      identity('x.example', { verified_for_sending: false, created_at: new Date(createdAt).toISOString() });
    expect(claimExpired([pending(t0)], 72 * hour, t0 + 72 * hour)).toBe(true);
    expect(claimExpired([pending(t0)], 72 * hour, t0 + 72 * hour - 1)).toBe(false);
    // A later identity at the domain does not make the claim younger.
    expect(claimExpired([pending(t0 + 71 * hour), pending(t0)], 72 * hour, t0 + 72 * hour)).toBe(true);
    expect(claimExpired([pending(t0), identity('a@x.example', { created_at: at })], 72 * hour, t0 + 100 * hour)).toBe(false);
    expect(claimExpired([], 72 * hour, t0 + 100 * hour)).toBe(false);
  });

  it('a domain identity covers addresses at exactly that domain; an address identity that address only', () => {
    const owned = [identity('example.com'), identity('ceo@other.com')];
    expect(coveringIdentity('anyone@example.com', owned)?.identity).toBe('example.com');
    expect(coveringIdentity('ceo@other.com', owned)?.identity).toBe('ceo@other.com');
    expect(coveringIdentity('cfo@other.com', owned)).toBeUndefined();
    expect(coveringIdentity('a@news.example.com', owned)).toBeUndefined(); // subdomains are not covered
    expect(coveringIdentity('a@example.com.evil.com', owned)).toBeUndefined();
    // The address identity comes before its domain's (its own configuration set wins).
    expect(coveringIdentity('ceo@example.com', [identity('example.com'), identity('ceo@example.com')])?.identity).toBe('ceo@example.com');
  });

  it("gives a domain's DKIM CNAMEs from its tokens, the MAIL FROM's MX and SPF, and a DMARC policy; an address none", () => {
    const records = dnsRecordsFor(identity('example.com', { dkim_tokens: ['tok1', 'tok2', 'tok3'] }), 'eu-west-1');
    expect(records).toEqual([
      { purpose: 'DKIM', type: 'CNAME', name: 'tok1._domainkey.example.com', value: 'tok1.dkim.amazonses.com' },
      { purpose: 'DKIM', type: 'CNAME', name: 'tok2._domainkey.example.com', value: 'tok2.dkim.amazonses.com' },
      { purpose: 'DKIM', type: 'CNAME', name: 'tok3._domainkey.example.com', value: 'tok3.dkim.amazonses.com' },
      { purpose: 'MAIL_FROM', type: 'MX', name: 'mail.example.com', value: '10 feedback-smtp.eu-west-1.amazonses.com' },
      { purpose: 'SPF', type: 'TXT', name: 'mail.example.com', value: 'v=spf1 include:amazonses.com ~all' },
      { purpose: 'DMARC', type: 'TXT', name: '_dmarc.example.com', value: 'v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com' },
    ]);
    const custom = dnsRecordsFor(
      identity('example.com', { mail_from_domain: 'bounce.example.com', dkim_signing_zone: 'dkim.eu.example' }),
      'x',
    );
    expect(custom.filter((r) => r.purpose === 'SPF').map((r) => r.name)).toEqual(['bounce.example.com']);
    expect(dnsRecordsFor(identity('example.com', { dkim_tokens: ['t'], dkim_signing_zone: 'dkim.eu.example' }), 'x')[0]!.value).toBe(
      't.dkim.eu.example',
    );
    expect(dnsRecordsFor(identity('ceo@example.com'), 'eu-west-1')).toEqual([]);
  });
});

describe('the sender check', () => {
  /** Stand-ins at the ports: the tenant's identities and configuration set, and SES's word on each identity. */
  function ports(owned: IdentityRecord[], opts: { tenantSet?: string; unverified?: string[]; engineSet?: string } = {}) {
    const asked: string[][] = [];
    const deps = {
      identities: {
        senderIdentities: async (_tenantId: string, names: string[]) => {
          asked.push(names);
          return { identities: owned.filter((i) => names.includes(i.identity)), configurationSet: opts.tenantSet };
        },
      },
      verifier: {
        sendingState: async (name: string): Promise<IdentityState> => ({
          verifiedForSending: !opts.unverified?.includes(name),
          verificationStatus: opts.unverified?.includes(name) ? 'FAILED' : 'SUCCESS',
          dkimTokens: [],
        }),
        arn: (name: string) => `arn:aws:ses:us-east-1:123456789012:identity/${name}`,
        defaultConfigurationSet: opts.engineSet ?? 'engine-set',
      },
    };
    return { deps, asked };
  }

  it('passes a from and reply_to the tenant holds, naming the identity that covers from, in one read', async () => {
    const { deps, asked } = ports([identity('example.com'), identity('replies@help.example')]);
    const check = await checkSenders(deps, 't1', { from: 'News <news@example.com>', reply_to: 'replies@help.example' });
    expect(check).toMatchObject({ ok: true, identityArn: 'arn:aws:ses:us-east-1:123456789012:identity/example.com' });
    expect(asked).toEqual([['news@example.com', 'example.com', 'replies@help.example', 'help.example']]);
  });

  it("refuses another domain's from, a reply_to the tenant does not hold, a subdomain, and an identity SES no longer verifies", async () => {
    const { deps } = ports([identity('example.com'), identity('stale.example')], { unverified: ['stale.example'] });
    expect(await checkSenders(deps, 't1', { from: 'ceo@tenant-b.example' })).toMatchObject({
      ok: false,
      field: 'from',
      address: 'ceo@tenant-b.example',
    });
    expect(await checkSenders(deps, 't1', { from: 'a@news.example.com' })).toMatchObject({ ok: false, field: 'from' });
    expect(await checkSenders(deps, 't1', { from: 'a@example.com', reply_to: 'ceo@tenant-b.example' })).toMatchObject({
      ok: false,
      field: 'reply_to',
      reason: 'ceo@tenant-b.example is not covered by a sender identity of this tenant',
    });
    expect(await checkSenders(deps, 't1', { from: 'a@stale.example' })).toMatchObject({
      ok: false,
      field: 'from',
      reason: 'the identity stale.example is not verified for sending (FAILED)',
    });
    expect(await checkSenders(deps, 't1', { from: '"x@y.com" <a@example.com>' })).toMatchObject({ ok: false, field: 'from' });
  });

  it("sends with the identity's configuration set only if the tenant may use it (the engine's or its own), else the tenant's", async () => {
    const owned = [
      identity('engine.example', { configuration_set: 'engine-set' }),
      identity('own.example', { configuration_set: 'tenant-set' }),
      // Another tenant's set, or the one the operator assigned before reassigning: never used.
      identity('stale.example', { configuration_set: 'other-tenant-set' }),
      identity('plain.example'),
    ];
    const withTenantSet = ports(owned, { tenantSet: 'tenant-set' }).deps;
    const setOf = async (deps: typeof withTenantSet, from: string) => {
      const check = await checkSenders(deps, 't1', { from });
      return check.ok ? check.configurationSet : 'refused';
    };
    expect(await setOf(withTenantSet, 'a@engine.example')).toBe('engine-set');
    expect(await setOf(withTenantSet, 'a@own.example')).toBe('tenant-set');
    expect(await setOf(withTenantSet, 'a@stale.example')).toBe('tenant-set');
    expect(await setOf(withTenantSet, 'a@plain.example')).toBe('tenant-set');
    // A tenant without a set of its own: the engine's (undefined: the messenger's default).
    const withoutTenantSet = ports(owned).deps;
    expect(await setOf(withoutTenantSet, 'a@engine.example')).toBe('engine-set');
    expect(await setOf(withoutTenantSet, 'a@own.example')).toBeUndefined();
    expect(await setOf(withoutTenantSet, 'a@stale.example')).toBeUndefined();
    expect(allowedConfigurationSets('tenant-set', 'engine-set')).toEqual(['engine-set', 'tenant-set']);
    expect(allowedConfigurationSets(undefined, 'engine-set')).toEqual(['engine-set']);
  });
});

describe('the SendEmail request', () => {
  const email: OutgoingEmail = {
    from: 'News <news@example.com>',
    to: 'r@example.org',
    subject: 's',
    html: '<p>h</p>',
    headers: {},
    tags: {},
  };

  it("names the sender identity's ARN and the tenant's configuration set when it has one, else the engine's", () => {
    const arn = 'arn:aws:ses:us-east-1:123456789012:identity/example.com';
    expect(sendEmailInput({ ...email, fromIdentityArn: arn, configurationSet: 'tenant-set' }, 'engine-set')).toMatchObject({
      FromEmailAddress: 'News <news@example.com>',
      FromEmailAddressIdentityArn: arn,
      ConfigurationSetName: 'tenant-set',
    });
    const plain = sendEmailInput(email, 'engine-set');
    expect(plain.ConfigurationSetName).toBe('engine-set');
    expect(plain).not.toHaveProperty('FromEmailAddressIdentityArn');
  });
});

describe('the identity verifiers', () => {
  /** A stand-in SES v2 client: answers by command name, counting the calls. */
  function fakeSes(answers: Record<string, (input: any) => unknown>) {
    const calls: string[] = [];
    return {
      calls,
      ses: {
        send: async (command: { constructor: { name: string }; input: unknown }) => {
          const name = command.constructor.name.replace(/Command$/, '');
          calls.push(name);
          const answer = answers[name];
          if (!answer) throw new Error(`unexpected ${name}`);
          return answer(command.input);
        },
      } as never,
    };
  }
  const verified: GetEmailIdentityResponse = {
    VerifiedForSendingStatus: true,
    VerificationStatus: 'SUCCESS',
    DkimAttributes: { Status: 'SUCCESS', Tokens: ['a', 'b', 'c'], SigningHostedZone: 'dkim.amazonses.com' },
  };

  it("reads SES's state, knows an identity SES had before, and one it has not", async () => {
    const exists = () => {
      throw new AlreadyExistsException({ message: 'exists', $metadata: {} });
    };
    const { ses } = fakeSes({ CreateEmailIdentity: exists, GetEmailIdentity: () => verified });
    const verifier = new AwsIdentityVerifier(ses, 'eu-west-1', '123456789012');
    expect(await verifier.create('example.com')).toEqual({
      existed: true,
      state: {
        verifiedForSending: true,
        verificationStatus: 'SUCCESS',
        dkimStatus: 'SUCCESS',
        dkimTokens: ['a', 'b', 'c'],
        dkimSigningZone: 'dkim.amazonses.com',
      },
    });
    expect(verifier.arn('example.com')).toBe('arn:aws:ses:eu-west-1:123456789012:identity/example.com');
    const gone = fakeSes({
      GetEmailIdentity: () => {
        throw new NotFoundException({ message: 'no such identity', $metadata: {} });
      },
      DeleteEmailIdentity: () => {
        throw new NotFoundException({ message: 'no such identity', $metadata: {} });
      },
    });
    const other = new AwsIdentityVerifier(gone.ses, 'eu-west-1', '123456789012');
    expect(await other.read('example.com')).toMatchObject({ verifiedForSending: false, verificationStatus: 'NOT_FOUND' });
    await expect(other.remove('example.com')).resolves.toBeUndefined();
  });

  it('remembers the sending state for its TTL, never a failed read, and forgets it when the identity is removed', async () => {
    let fail = true;
    const { ses, calls } = fakeSes({
      GetEmailIdentity: () => {
        if (fail) throw new Error('SES unreachable');
        return verified;
      },
      DeleteEmailIdentity: () => ({}),
    });
    const verifier = new AwsIdentityVerifier(ses, 'us-east-1', '123456789012', { ttlMs: 50 });
    await expect(verifier.sendingState('example.com')).rejects.toThrow('SES unreachable');
    fail = false;
    expect((await verifier.sendingState('example.com')).verifiedForSending).toBe(true);
    await verifier.sendingState('example.com');
    expect(calls.filter((c) => c === 'GetEmailIdentity')).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 60));
    await verifier.sendingState('example.com');
    expect(calls.filter((c) => c === 'GetEmailIdentity')).toHaveLength(3);
    await verifier.remove('example.com');
    await verifier.sendingState('example.com');
    expect(calls.filter((c) => c === 'GetEmailIdentity')).toHaveLength(4);
  });

  it('the local verifier (local stack only) verifies every identity, with the same DKIM tokens for a domain every time', async () => {
    const local = new LocalIdentityVerifier();
    const state = await local.read('example.com');
    expect(state).toMatchObject({ verifiedForSending: true, dkimStatus: 'SUCCESS', dkimTokens: localDkimTokens('example.com') });
    expect(state.dkimTokens).toHaveLength(3);
    for (const token of state.dkimTokens) expect(token).toMatch(/^[a-f0-9]{32}$/);
    expect(localDkimTokens('example.com')).not.toEqual(localDkimTokens('example.org'));
    expect((await local.read('news@example.com')).dkimTokens).toEqual([]);
    expect(local.arn('example.com')).toBe('arn:aws:ses:us-east-1:000000000000:identity/example.com');
  });
});
