// Sender identities over HTTP (issue 14, item 1), through the API the process serves (no worker)
// on the shared stack's DynamoDB Local, with the local identity verifier: claiming a domain or an
// address (201, then 200; 409 when another tenant holds its registrable domain: the domain, a
// parent, a subdomain; 400 for neither, or a public suffix), the records to publish, the
// configuration sets a tenant may choose (the engine's or its own, 422 otherwise), listing with
// cursors, another tenant's identity as 404, the claim race (concurrent PUTs of tenants for one
// domain: exactly one tenant wins, every time), and template creation refusing a `from` or
// `reply_to` the tenant does not hold, or a display name or subject that could mislead.
// In-process APIs over a stand-in of SES at the verifier interface (the local verifier verifies
// everything at once): unverified claims expiring and passing to the next claimant, the caps
// on a tenant's identities, and SES read at most once a minute per identity.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsException, type GetEmailIdentityResponse } from '@aws-sdk/client-sesv2';
import { keys } from '../../src/adapters/dynamo/keys';
import {
  AwsIdentityVerifier,
  LOCAL_ACCOUNT_ID,
  localDkimTokens,
  type IdentityState,
  type IdentityVerifier,
} from '../../src/adapters/identity-verifier';
import { identityArn } from '../../src/domain/sender-identity';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import { apiClient, startApi, TENANTS, testConfig, type ApiClient, type ApiResponse, type RunningApi } from '../support/harness';
import { setupDeps, uid } from '../integration/fixtures';
import { seedOwnTenant, serveApp, type ServedApp } from './in-process';

const data = setupDeps();
let server: RunningApi;
/** Tenants of this file only, without identities: their lists hold what the tests put there. */
const tenants = Array.from({ length: 3 }, (_, i) => ({
  tenantId: `ids-${i}-${uid()}`,
  apiKey: `ids-key-${i}-${uid()}`,
  webhookSecret: generateWebhookSecret(),
}));
let clients: ApiClient[];
let tenantA: ApiClient;
let tenantB: ApiClient;

beforeAll(async () => {
  for (const tenant of tenants) await seedTenant(data.deps.store, tenant);
  server = await startApi(testConfig());
  clients = tenants.map((t) => apiClient(server.url, t.apiKey));
  tenantA = apiClient(server.url, TENANTS.a.apiKey);
  tenantB = apiClient(server.url, TENANTS.b.apiKey);
});
afterAll(async () => {
  await server?.close();
  data.close();
});

const expectError = (res: ApiResponse<any>, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
};
const freshDomain = (label = 'dom') => `${label}-${uid()}.example`;

describe('the identity API', () => {
  it('claims a domain (201, then 200) and shows the DKIM, MAIL FROM, SPF and DMARC records to publish', async () => {
    const [mine] = clients;
    const domain = freshDomain();
    const created = await mine!.put(`/api/v1/identities/${domain.toUpperCase()}`);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const tokens = localDkimTokens(domain);
    expect(created.body).toMatchObject({
      identity: domain,
      type: 'DOMAIN',
      status: 'VERIFIED',
      verified_for_sending: true,
      verification_status: 'SUCCESS',
      dkim: { status: 'SUCCESS', tokens },
      configuration_set: null,
    });
    expect((await mine!.put(`/api/v1/identities/${domain}`)).status).toBe(200);
    const got = await mine!.get(`/api/v1/identities/${domain}`);
    expect(got.status).toBe(200);
    expect(got.body.dns_records).toEqual([
      ...tokens.map((t) => ({ purpose: 'DKIM', type: 'CNAME', name: `${t}._domainkey.${domain}`, value: `${t}.dkim.amazonses.com` })),
      { purpose: 'MAIL_FROM', type: 'MX', name: `mail.${domain}`, value: '10 feedback-smtp.us-east-1.amazonses.com' },
      { purpose: 'SPF', type: 'TXT', name: `mail.${domain}`, value: 'v=spf1 include:amazonses.com ~all' },
      { purpose: 'DMARC', type: 'TXT', name: `_dmarc.${domain}`, value: `v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@${domain}` },
    ]);
    // An address identity: verified by SES's mail to it, nothing to publish.
    const address = await mine!.put(`/api/v1/identities/news@${domain}`);
    expect(address.status).toBe(201);
    expect(address.body).toMatchObject({ type: 'EMAIL_ADDRESS', dns_records: [], dkim: { tokens: [] } });
  });

  it("gives another tenant 409 for a held domain and for addresses at it, and 404 for the holder's identities", async () => {
    const [holder, other] = clients;
    const domain = freshDomain();
    expect((await holder!.put(`/api/v1/identities/${domain}`)).status).toBe(201);
    expect((await holder!.put(`/api/v1/identities/ceo@${domain}`)).status).toBe(201);
    expectError(await other!.put(`/api/v1/identities/${domain}`), 409, 'IDENTITY_TAKEN');
    expectError(await other!.put(`/api/v1/identities/cfo@${domain}`), 409, 'IDENTITY_TAKEN');
    expectError(await other!.get(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    expectError(await other!.get(`/api/v1/identities/ceo@${domain}`), 404, 'NOT_FOUND');
    expectError(await other!.delete(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    expect((await holder!.get(`/api/v1/identities/${domain}`)).status).toBe(200);
    // The domain is free once the holder gave up every identity at it.
    expect((await holder!.delete(`/api/v1/identities/${domain}`)).status).toBe(204);
    expectError(await other!.put(`/api/v1/identities/${domain}`), 409, 'IDENTITY_TAKEN');
    expect((await holder!.delete(`/api/v1/identities/ceo@${domain}`)).status).toBe(204);
    expectError(await holder!.get(`/api/v1/identities/ceo@${domain}`), 404, 'NOT_FOUND');
    expectError(await holder!.delete(`/api/v1/identities/ceo@${domain}`), 404, 'NOT_FOUND');
    expect((await other!.put(`/api/v1/identities/${domain}`)).status).toBe(201);
    expect(await data.deps.store.get(keys.senderDomain(domain))).toMatchObject({ tenant_id: tenants[1]!.tenantId });
  });

  it('the seeded tenants hold their own domains only', async () => {
    expectError(await tenantB.put('/api/v1/identities/example.com'), 409, 'IDENTITY_TAKEN');
    expectError(await tenantA.put(`/api/v1/identities/${TENANTS.b.senders[0]}`), 409, 'IDENTITY_TAKEN');
    expect((await tenantA.get('/api/v1/identities/example.com')).body).toMatchObject({ status: 'VERIFIED' });
    expectError(await tenantB.get('/api/v1/identities/example.com'), 404, 'NOT_FOUND');
  });

  it('refuses what is neither a domain nor an address (400), and checks the body', async () => {
    const [mine] = clients;
    for (const bad of [
      'localhost',
      'a..b.example',
      '-x.example',
      'a@b@c.example',
      '127.0.0.1',
      encodeURIComponent('x y.example'),
      `${'x'.repeat(250)}.example`,
    ])
      expectError(await mine!.put(`/api/v1/identities/${bad}`), 400, 'INVALID_IDENTITY');
    expectError(await mine!.get('/api/v1/identities/not_a_domain'), 400, 'INVALID_IDENTITY');
    const domain = freshDomain();
    expectError(await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: 'no spaces!' }), 400, 'VALIDATION_FAILED');
    expectError(await mine!.put(`/api/v1/identities/${domain}`, { other: 1 }), 400, 'VALIDATION_FAILED');
    // Public suffixes: claiming one would hold every domain under it.
    for (const suffix of ['co.uk', 'github.io', 'news@co.uk'])
      expectError(await mine!.put(`/api/v1/identities/${suffix}`), 400, 'INVALID_IDENTITY');
  });

  it("takes only a configuration set the tenant may use: the engine's, or the one its operator assigned it (422 otherwise)", async () => {
    const [mine] = clients;
    const engineSet = testConfig().SES_CONFIGURATION_SET;
    const domain = freshDomain('cs');
    // Another tenant's set (its dedicated IPs, its event destinations) or one that publishes no bounces to the engine.
    const refused = await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: 'another-tenants-set' });
    expectError(refused, 422, 'CONFIGURATION_SET_NOT_ALLOWED');
    expect(refused.body.error.details).toEqual({ field: 'configuration_set', allowed: [engineSet] });
    expectError(await mine!.get(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    const created = await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: engineSet });
    expect(created.status).toBe(201);
    expect(created.body.configuration_set).toBe(engineSet);
    // The operator assigns the tenant a set of its own (the tenant record, never the tenant's API).
    const record = await data.deps.store.getTenant(tenants[0]!.tenantId);
    await data.deps.store.putTenant({ ...record!, ses_configuration_set: 'ids-own-set' }, tenants[0]!.apiKey);
    try {
      expect((await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: 'ids-own-set' })).body.configuration_set).toBe(
        'ids-own-set',
      );
      expect((await mine!.put(`/api/v1/identities/${domain}`)).body.configuration_set).toBe('ids-own-set');
      const other = await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: 'another-tenants-set' });
      expectError(other, 422, 'CONFIGURATION_SET_NOT_ALLOWED');
      expect(other.body.error.details.allowed).toEqual([engineSet, 'ids-own-set']);
      expect((await mine!.get(`/api/v1/identities/${domain}`)).body.configuration_set).toBe('ids-own-set');
      expect((await mine!.put(`/api/v1/identities/${domain}`, { configuration_set: null })).body.configuration_set).toBeNull();
    } finally {
      await data.deps.store.putTenant(record!, tenants[0]!.apiKey);
    }
  });

  it('holds the registrable domain: another tenant gets 409 for a parent, a subdomain, a sibling or an address under it', async () => {
    const [one, two] = clients;
    const root = freshDomain('tree');
    expect((await one!.put(`/api/v1/identities/news.${root}`)).status).toBe(201);
    for (const name of [root, `deep.news.${root}`, `ceo@${root}`, `shop.${root}`, `a@mail.news.${root}`])
      expectError(await two!.put(`/api/v1/identities/${name}`), 409, 'IDENTITY_TAKEN');
    // The holder adds the parent and addresses under it.
    expect((await one!.put(`/api/v1/identities/${root}`)).status).toBe(201);
    expect((await one!.put(`/api/v1/identities/ceo@mail.${root}`)).status).toBe(201);
    // The other way round: a held parent keeps its subdomains from others.
    const parent = freshDomain('parent');
    expect((await two!.put(`/api/v1/identities/${parent}`)).status).toBe(201);
    expectError(await one!.put(`/api/v1/identities/news.${parent}`), 409, 'IDENTITY_TAKEN');
    // Free again once the holder gave up every identity under it.
    for (const name of [`news.${root}`, root, `ceo@mail.${root}`])
      expect((await one!.delete(`/api/v1/identities/${name}`)).status).toBe(204);
    expect((await two!.put(`/api/v1/identities/shop.${root}`)).status).toBe(201);
    expect(await data.deps.store.get(keys.senderDomain(root))).toMatchObject({ tenant_id: tenants[1]!.tenantId });
    // Under a private suffix each user's domain is a registrable domain of its own.
    expect((await one!.put(`/api/v1/identities/alice-${uid()}.github.io`)).status).toBe(201);
    expect((await two!.put(`/api/v1/identities/bob-${uid()}.github.io`)).status).toBe(201);
  });

  it("lists the tenant's identities in pages; another tenant's cursor is a 400", async () => {
    const [, , lister] = clients;
    const names = [freshDomain('l1'), freshDomain('l2'), `a@${freshDomain('l3')}`, freshDomain('l4'), freshDomain('l5')];
    for (const name of names) expect((await lister!.put(`/api/v1/identities/${name}`)).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: ApiResponse<any> = await lister!.get(`/api/v1/identities?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.items.map((i: any) => i.identity));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen.filter((s) => names.includes(s)).sort()).toEqual([...names].sort());
    const theirs = (await lister!.get('/api/v1/identities?limit=1')).body.next_cursor as string;
    expectError(await clients[0]!.get(`/api/v1/identities?limit=1&cursor=${theirs}`), 400, 'INVALID_CURSOR');
  });
});

describe('the claim race', () => {
  it('two tenants PUT the same domain at once: exactly one wins, 20 times over', async () => {
    const [one, two] = clients;
    for (let round = 0; round < 20; round++) {
      const domain = freshDomain('race');
      const answers = await Promise.all([one!.put(`/api/v1/identities/${domain}`), two!.put(`/api/v1/identities/${domain}`)]);
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      const winner = answers[0]!.status === 201 ? 0 : 1;
      expect(await data.deps.store.get(keys.senderDomain(domain))).toMatchObject({ tenant_id: tenants[winner]!.tenantId });
      expectError(await clients[1 - winner]!.get(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    }
  });

  it('any mix of concurrent claims on one domain and addresses at it: one tenant holds all it asked for, the others get 409', async () => {
    const claimArb = fc.array(fc.record({ tenant: fc.integer({ min: 0, max: 2 }), name: fc.constantFrom('', 'news@', 'ceo@') }), {
      minLength: 2,
      maxLength: 8,
    });
    await fc.assert(
      fc.asyncProperty(claimArb, async (claims) => {
        const domain = freshDomain('mix');
        const answers = await Promise.all(claims.map((c) => clients[c.tenant]!.put(`/api/v1/identities/${c.name}${domain}`)));
        const winners = new Set(claims.filter((_, i) => answers[i]!.status < 300).map((c) => c.tenant));
        expect(winners.size).toBe(1);
        const [winner] = [...winners];
        claims.forEach((c, i) => {
          if (c.tenant !== winner) expectError(answers[i]!, 409, 'IDENTITY_TAKEN');
        });
        // Each identity the winner asked for: created once, already there for its other requests.
        const asked = new Set(claims.filter((c) => c.tenant === winner).map((c) => `${c.name}${domain}`));
        for (const name of asked) {
          const statuses = claims.flatMap((c, i) => (c.tenant === winner && `${c.name}${domain}` === name ? [answers[i]!.status] : []));
          expect(statuses.filter((s) => s === 201)).toHaveLength(1);
          expect(statuses.filter((s) => s !== 201 && s !== 200)).toEqual([]);
          expect((await clients[winner!]!.get(`/api/v1/identities/${name}`)).status).toBe(200);
        }
        const claim = await data.deps.store.get<{ tenant_id: string; identities: Set<string> }>(keys.senderDomain(domain));
        expect(claim?.tenant_id).toBe(tenants[winner!]!.tenantId);
        expect([...claim!.identities].sort()).toEqual([...asked].sort());
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});

describe('template creation', () => {
  const template = (from: string, replyTo?: string) => ({ name: 'n', subject: 's', from, ...(replyTo ? { reply_to: replyTo } : {}) });
  const other = `ceo@${TENANTS.b.senders[0]}`;

  it("refuses a from or a reply_to at another tenant's domain (422 SENDER_NOT_VERIFIED, with the field)", async () => {
    for (const from of [other, `"The CEO" <${other}>`, `<${other}>`]) {
      const res = await tenantA.post('/api/v1/templates/presigned-url', template(from));
      expectError(res, 422, 'SENDER_NOT_VERIFIED');
      expect(res.body.error.details).toEqual({ field: 'from', address: other });
    }
    const replyTo = await tenantA.post('/api/v1/templates/presigned-url', template('news@example.com', other));
    expectError(replyTo, 422, 'SENDER_NOT_VERIFIED');
    expect(replyTo.body.error.details).toEqual({ field: 'reply_to', address: other });
    // Tenant b the other way round, and a subdomain of tenant a's own domain (not covered).
    expectError(await tenantB.post('/api/v1/templates/presigned-url', template('ceo@example.com')), 422, 'SENDER_NOT_VERIFIED');
    expectError(await tenantA.post('/api/v1/templates/presigned-url', template('a@news.example.com')), 422, 'SENDER_NOT_VERIFIED');
  });

  it('refuses encoded-words, look-alike @ and control characters in a display name, and control characters in subject (400 with the field)', async () => {
    const paths = (res: ApiResponse<any>) => [...new Set(res.body.error.details.map((d: any) => d.path))];
    for (const from of [
      '=?utf-8?q?ceo=40bank.com?= <news@example.com>',
      '=?utf-8?B?Y2VvQGJhbmsuY29t?= <news@example.com>',
      'ceo\uFF20bank.com <news@example.com>',
      '"ceo\uFE6Bbank.com" <news@example.com>',
      '"News\tDesk" <news@example.com>',
      '"News\u0000" <news@example.com>',
      'News\u202Emoc.knab <news@example.com>',
    ]) {
      const res = await tenantA.post('/api/v1/templates/presigned-url', template(from));
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(paths(res), JSON.stringify(from)).toEqual(['from']);
    }
    for (const subject of ['Hi\tthere', 'Hi\u0000', 'Hi\u0085there', 'Hi\u007F', 'Hi\u001B[31m']) {
      const res = await tenantA.post('/api/v1/templates/presigned-url', { ...template('news@example.com'), subject });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(paths(res), JSON.stringify(subject)).toEqual(['subject']);
    }
    expect(
      (await tenantA.post('/api/v1/templates/presigned-url', { ...template('Zoë <news@example.com>'), subject: 'Café ✓' })).status,
    ).toBe(201);
  });

  it('refuses a display name that reads as an address (400), and accepts its own senders', async () => {
    const res = await tenantA.post('/api/v1/templates/presigned-url', template(`"${other}" <news@example.com>`));
    expectError(res, 400, 'VALIDATION_FAILED');
    expect(res.body.error.details.map((d: any) => d.path)).toEqual(['from']);
    expect(
      (await tenantA.post('/api/v1/templates/presigned-url', template('News <news@example.com>', 'help@simulator.amazonses.com'))).status,
    ).toBe(201);
    expect((await tenantB.post('/api/v1/templates/presigned-url', template(`news@${TENANTS.b.senders[0]}`))).status).toBe(201);
  });

  it('accepts an identity while the tenant holds it, and refuses it once given up', async () => {
    const [mine] = clients;
    const address = `news@${freshDomain('tpl')}`;
    expectError(await mine!.post('/api/v1/templates/presigned-url', template(address)), 422, 'SENDER_NOT_VERIFIED');
    expect((await mine!.put(`/api/v1/identities/${address}`)).status).toBe(201);
    expect((await mine!.post('/api/v1/templates/presigned-url', template(address))).status).toBe(201);
    // The address identity covers that address only.
    expectError(
      await mine!.post('/api/v1/templates/presigned-url', template(address.replace('news@', 'cfo@'))),
      422,
      'SENDER_NOT_VERIFIED',
    );
    expect((await mine!.delete(`/api/v1/identities/${address}`)).status).toBe(204);
    expectError(await mine!.post('/api/v1/templates/presigned-url', template(address)), 422, 'SENDER_NOT_VERIFIED');
  });
});

/** SES at the verifier's interface: the identities it holds, each PENDING until `verify`, and every call made. */
class StandInSes implements IdentityVerifier {
  readonly held = new Map<string, IdentityState>();
  readonly calls: string[] = [];
  readonly defaultConfigurationSet = testConfig().SES_CONFIGURATION_SET;

  async create(identity: string) {
    this.calls.push(`create ${identity}`);
    const existed = this.held.has(identity);
    if (!existed) this.held.set(identity, { verifiedForSending: false, verificationStatus: 'PENDING', dkimTokens: [] });
    return { existed, state: this.held.get(identity)! };
  }
  async read(identity: string): Promise<IdentityState> {
    this.calls.push(`read ${identity}`);
    return this.held.get(identity) ?? { verifiedForSending: false, verificationStatus: 'NOT_FOUND', dkimTokens: [] };
  }
  sendingState(identity: string) {
    return this.read(identity);
  }
  async remove(identity: string) {
    this.calls.push(`remove ${identity}`);
    this.held.delete(identity);
  }
  arn(identity: string) {
    return identityArn('us-east-1', LOCAL_ACCOUNT_ID, identity);
  }
  verify(identity: string) {
    this.held.set(identity, { verifiedForSending: true, verificationStatus: 'SUCCESS', dkimTokens: [] });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('unverified claims and the limits of a tenant (SES stood in: identities stay PENDING)', () => {
  const TTL_MS = 2_000;
  const ses = new StandInSes();
  let app: ServedApp;
  /** A tenant of its own for each use: the caps count per tenant. */
  const newTenant = async (name: string) => {
    const { tenantId, apiKey } = await seedOwnTenant(app.deps.config, name);
    return Object.assign(apiClient(app.url, apiKey), { tenantId });
  };
  const holderOf = async (domain: string) => (await data.deps.store.get<{ tenant_id: string }>(keys.senderDomain(domain)))?.tenant_id;

  beforeAll(async () => {
    const config = testConfig({
      IDENTITY_PENDING_TTL_HOURS: String(TTL_MS / 3_600_000),
      IDENTITY_MAX_PENDING_PER_TENANT: '2',
      IDENTITY_MAX_PER_TENANT: '3',
    });
    app = await serveApp(config, (deps) => {
      deps.identityVerifier = ses;
    });
  });
  afterAll(() => app?.close());

  it('a claim still unverified after IDENTITY_PENDING_TTL_HOURS passes to the next tenant that claims under it; SES forgets the old one', async () => {
    const squatter = await newTenant('squat');
    const bank = await newTenant('bank');
    const domain = freshDomain('squat');
    expect((await squatter.put(`/api/v1/identities/${domain}`)).body).toMatchObject({ status: 'PENDING' });
    expect((await squatter.put(`/api/v1/identities/x@${domain}`)).status).toBe(201);
    expectError(await bank.put(`/api/v1/identities/${domain}`), 409, 'IDENTITY_TAKEN');
    await sleep(TTL_MS + 200);
    ses.calls.length = 0;
    // A subdomain's claim meets the expired claim on its registrable domain too.
    const taken = await bank.put(`/api/v1/identities/news.${domain}`);
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    expect(await holderOf(domain)).toBe(bank.tenantId);
    // SES was asked first (still pending), then the old claimant's identities were deleted from it, then the new one created.
    expect(new Set(ses.calls.slice(0, 2))).toEqual(new Set([`read ${domain}`, `read x@${domain}`]));
    expect(new Set(ses.calls.slice(2, 4))).toEqual(new Set([`remove ${domain}`, `remove x@${domain}`]));
    expect(ses.calls.slice(4)).toEqual([`create news.${domain}`]);
    expect(ses.held.has(domain)).toBe(false);
    expectError(await squatter.get(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    expectError(await squatter.get(`/api/v1/identities/x@${domain}`), 404, 'NOT_FOUND');
    expect((await squatter.get('/api/v1/identities')).body.items).toEqual([]);
    expectError(await squatter.put(`/api/v1/identities/${domain}`), 409, 'IDENTITY_TAKEN');
    // The old claimant's pending identities no longer count against its limits.
    for (const name of [freshDomain('after-1'), freshDomain('after-2')])
      expect((await squatter.put(`/api/v1/identities/${name}`)).status).toBe(201);
  });

  it('a claim SES has verified since is kept: the re-check records it verified, and the claimant gets 409', async () => {
    const holder = await newTenant('slow-dns');
    const other = await newTenant('other');
    const domain = freshDomain('slow');
    expect((await holder.put(`/api/v1/identities/${domain}`)).status).toBe(201);
    ses.verify(domain); // the DNS records went up; nobody has asked since
    await sleep(TTL_MS + 200);
    expectError(await other.put(`/api/v1/identities/${domain}`), 409, 'IDENTITY_TAKEN');
    expect(ses.held.get(domain)?.verifiedForSending).toBe(true);
    expect(await holderOf(domain)).toBe(holder.tenantId);
    expect(await data.deps.store.get(keys.identity(holder.tenantId, domain))).toMatchObject({ verified_for_sending: true });
    expect((await holder.get(`/api/v1/identities/${domain}`)).body.status).toBe('VERIFIED');
  });

  it('two tenants claiming an expired claim at once: exactly one gets it', async () => {
    for (let round = 0; round < 3; round++) {
      const squatter = await newTenant('squat-race');
      const contenders = [await newTenant('race-a'), await newTenant('race-b')];
      const domain = freshDomain('expired-race');
      expect((await squatter.put(`/api/v1/identities/${domain}`)).status).toBe(201);
      await sleep(TTL_MS + 200);
      const answers = await Promise.all(contenders.map((c) => c.put(`/api/v1/identities/${domain}`)));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
      const winner = contenders[answers[0]!.status === 201 ? 0 : 1]!;
      expect((await winner.get(`/api/v1/identities/${domain}`)).status).toBe(200);
      expectError(await squatter.get(`/api/v1/identities/${domain}`), 404, 'NOT_FOUND');
    }
  });

  it('caps the pending and the total identities of a tenant (422 IDENTITY_LIMIT_REACHED), and SES is not asked for a refused one', async () => {
    const tenant = await newTenant('caps');
    const domain = freshDomain('caps');
    for (const name of ['a', 'b']) expect((await tenant.put(`/api/v1/identities/${name}@${domain}`)).status).toBe(201);
    const third = await tenant.put(`/api/v1/identities/c@${domain}`);
    expectError(third, 422, 'IDENTITY_LIMIT_REACHED');
    expect(third.body.error.details).toEqual({ limit: 'pending', max: 2 });
    expect(ses.calls).not.toContain(`create c@${domain}`);
    // What it has already is not refused.
    expect((await tenant.put(`/api/v1/identities/a@${domain}`)).status).toBe(200);
    // Verified (and seen so) it no longer counts as pending.
    ses.verify(`a@${domain}`);
    expect((await tenant.get(`/api/v1/identities/a@${domain}`)).body.status).toBe('VERIFIED');
    expect((await tenant.put(`/api/v1/identities/c@${domain}`)).status).toBe(201);
    const fourth = await tenant.put(`/api/v1/identities/d@${domain}`);
    expectError(fourth, 422, 'IDENTITY_LIMIT_REACHED');
    expect(fourth.body.error.details).toEqual({ limit: 'total', max: 3 });
    // A given-up identity frees its place.
    expect((await tenant.delete(`/api/v1/identities/b@${domain}`)).status).toBe(204);
    expect((await tenant.put(`/api/v1/identities/d@${domain}`)).status).toBe(201);
    // Concurrent claims cannot pass the cap between them.
    const other = await newTenant('caps-race');
    const names = ['p', 'q', 'r', 's', 't'].map((n) => `${n}@${freshDomain('caps-race')}`);
    const answers = await Promise.all(names.map((n) => other.put(`/api/v1/identities/${n}`)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(2);
    for (const a of answers.filter((a) => a.status !== 201)) expectError(a, 422, 'IDENTITY_LIMIT_REACHED');
    expect((await other.get('/api/v1/identities')).body.items).toHaveLength(2);
  });
});

describe('SES reads', () => {
  it('a GET and a repeated PUT read SES at most once a minute per identity', async () => {
    const calls: string[] = [];
    const pending: GetEmailIdentityResponse = {
      VerifiedForSendingStatus: false,
      VerificationStatus: 'PENDING',
      DkimAttributes: { Tokens: ['t1', 't2', 't3'] },
    };
    const created = new Set<string>();
    const ses = {
      send: async (command: { constructor: { name: string }; input: { EmailIdentity: string } }) => {
        const name = command.constructor.name.replace(/Command$/, '');
        calls.push(name);
        if (name === 'CreateEmailIdentity') {
          if (created.has(command.input.EmailIdentity)) throw new AlreadyExistsException({ message: 'exists', $metadata: {} });
          created.add(command.input.EmailIdentity);
          return {};
        }
        if (name === 'GetEmailIdentity') return pending;
        throw new Error(`unexpected ${name}`);
      },
    } as never;
    const app = await serveApp(testConfig(), (deps) => {
      deps.identityVerifier = new AwsIdentityVerifier(ses, 'us-east-1', '123456789012');
    });
    try {
      const client = apiClient(app.url, (await seedOwnTenant(app.deps.config, 'ses-reads')).apiKey);
      const domain = freshDomain('reads');
      expect((await client.put(`/api/v1/identities/${domain}`)).status).toBe(201);
      expect(calls).toEqual(['CreateEmailIdentity', 'GetEmailIdentity']);
      for (let i = 0; i < 5; i++) expect((await client.get(`/api/v1/identities/${domain}`)).body.status).toBe('PENDING');
      for (let i = 0; i < 3; i++) expect((await client.put(`/api/v1/identities/${domain}`)).status).toBe(200);
      expect(calls).toEqual(['CreateEmailIdentity', 'GetEmailIdentity']);
    } finally {
      await app.close();
    }
  });
});
