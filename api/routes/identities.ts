// The tenant's sender identities: the domains and addresses its templates may send from.
// PUT claims one (each registrable domain belongs to one tenant, with every identity under it;
// a claim still unverified after IDENTITY_PENDING_TTL_HOURS passes to the next tenant that
// claims under it; IDENTITY_MAX_* cap a tenant's claims) and has SES start verifying it; GET
// shows SES's state (as read at most a minute before) and the DNS records to publish; DELETE
// gives it up.
import { Router } from 'express';
import { z } from 'zod';
import type { IdentityRecord } from '../../src/adapters/dynamo/types';
import { ranges } from '../../src/adapters/dynamo/keys';
import { DomainError, notFound } from '../../src/domain/errors';
import { allowedConfigurationSets, dnsRecordsFor, parseIdentity, type ParsedIdentity } from '../../src/domain/sender-identity';
import { claimSenderIdentity, stateFields } from '../../src/identities/sender-identities';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeKeyCursor, encodeCursor } from '../pagination';

/** SES's rule for configuration set names. */
const configurationSetName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only, at most 64');
export const putIdentityBody = z
  .object({
    /** Mail from this identity goes out with this configuration set; null goes back to the tenant's or the engine's. */
    configuration_set: configurationSetName
      .nullable()
      .optional()
      .describe(
        "The engine's configuration set or the one the operator assigned to the tenant (any other is refused); " +
          "null: the tenant's, else the engine's",
      ),
  })
  .strict();

const MAX_IDENTITY_LENGTH = 254;

function identityParam(raw: string): ParsedIdentity {
  const parsed = raw.length <= MAX_IDENTITY_LENGTH ? parseIdentity(raw) : null;
  if (!parsed) {
    throw new DomainError(
      'invalid',
      'INVALID_IDENTITY',
      'The identity is neither a domain name nor an email address (or it is, or is at, a public suffix).',
    );
  }
  return parsed;
}

const FAILED = new Set(['FAILED', 'NOT_FOUND']);

export const identityView = (record: IdentityRecord, region: string) => ({
  identity: record.identity,
  type: record.type,
  status: record.verified_for_sending ? 'VERIFIED' : FAILED.has(record.verification_status) ? 'FAILED' : 'PENDING',
  verified_for_sending: record.verified_for_sending,
  verification_status: record.verification_status,
  dkim: { status: record.dkim_status ?? null, tokens: record.dkim_tokens },
  mail_from_domain: record.mail_from_domain ?? null,
  configuration_set: record.configuration_set ?? null,
  dns_records: dnsRecordsFor(record, region),
  created_at: record.created_at,
  updated_at: record.updated_at,
});

export function identityRoutes(deps: ApiDeps): Router {
  const router = Router();
  const region = deps.config.AWS_REGION;
  const view = (record: IdentityRecord) => identityView(record, region);

  /**
   * The record with SES's state (as the verifier remembers it, at most a minute old), written
   * back when it changed; as stored if SES cannot be read.
   */
  async function current(record: IdentityRecord): Promise<IdentityRecord> {
    let fields;
    try {
      fields = stateFields(await deps.identityVerifier.sendingState(record.identity));
    } catch (error) {
      deps.log.warn('could not read the identity from SES; showing its last known state', { identity: record.identity, error });
      return record;
    }
    const changed = Object.entries(fields).some(
      ([name, value]) => JSON.stringify(value ?? undefined) !== JSON.stringify(record[name as keyof IdentityRecord]),
    );
    if (!changed) return record;
    return (await deps.identities.updateIdentity(record.tenant_id, record.identity, fields)) ?? record;
  }

  router.get('/', async (req, res) => {
    const query = z
      .object({ limit: z.coerce.number().int().min(1).max(1000).default(100), cursor: z.string().max(4096).optional() })
      .parse(req.query);
    const tenantId = tenantOf(req);
    const { PK, skPrefix } = ranges.identities(tenantId);
    const page = await deps.identities.listIdentities(tenantId, query.limit, decodeKeyCursor(query.cursor, PK, skPrefix));
    res.json({ items: page.items.map(view), next_cursor: encodeCursor(page.cursor) });
  });

  router.get('/:identity', async (req, res) => {
    const { identity } = identityParam(req.params.identity);
    const record = await deps.identities.getIdentity(tenantOf(req), identity);
    if (!record) throw notFound('identity', identity);
    res.json(view(await current(record)));
  });

  /**
   * Refuses a configuration set the tenant may not send with: the engine's and the one the
   * operator assigned it are the only ones (another tenant's would send on its IPs and to its
   * event destinations; one the engine does not know might publish no bounces to it).
   */
  async function checkConfigurationSet(tenantId: string, name: string): Promise<void> {
    // The tenant record's set, as the send path reads it.
    const { configurationSet } = await deps.identities.senderIdentities(tenantId, []);
    const allowed = allowedConfigurationSets(configurationSet, deps.config.SES_CONFIGURATION_SET);
    if (allowed.includes(name)) return;
    throw new DomainError(
      'unprocessable',
      'CONFIGURATION_SET_NOT_ALLOWED',
      `The configuration set ${name} is not one this tenant may send with (${allowed.join(', ')}).`,
      { field: 'configuration_set', allowed },
    );
  }

  const claimOptions = {
    limits: { maxPending: deps.config.IDENTITY_MAX_PENDING_PER_TENANT, maxTotal: deps.config.IDENTITY_MAX_PER_TENANT },
    pendingTtlMs: deps.config.IDENTITY_PENDING_TTL_HOURS * 3_600_000,
  };

  router.put('/:identity', async (req, res) => {
    const parsed = identityParam(req.params.identity);
    const body = putIdentityBody.parse(req.body ?? {});
    const tenantId = tenantOf(req);
    if (body.configuration_set) await checkConfigurationSet(tenantId, body.configuration_set);
    const claim = await claimSenderIdentity({ identities: deps.identities, verifier: deps.identityVerifier }, tenantId, parsed, {
      ...claimOptions,
      configurationSet: body.configuration_set,
    });
    if (claim.outcome === 'taken') {
      throw new DomainError(
        'conflict',
        'IDENTITY_TAKEN',
        `${parsed.identity} cannot be claimed: its domain, or a parent or subdomain of it, is already held by another sender.`,
      );
    }
    if (claim.outcome === 'limit') {
      const what = claim.limit === 'pending' ? 'unverified identities' : 'identities';
      throw new DomainError(
        'unprocessable',
        'IDENTITY_LIMIT_REACHED',
        `This tenant already has ${claim.max} ${what}, its limit: verify or delete some first.`,
        { limit: claim.limit, max: claim.max },
      );
    }
    res.status(claim.outcome === 'created' ? 201 : 200).json(view(claim.record));
  });

  router.delete('/:identity', async (req, res) => {
    const { identity } = identityParam(req.params.identity);
    const tenantId = tenantOf(req);
    if (!(await deps.identities.getIdentity(tenantId, identity))) throw notFound('identity', identity);
    // SES first: once the claim is gone another tenant may claim the domain, and must then prove
    // it again from scratch rather than find SES's verification in place.
    await deps.identityVerifier.remove(identity);
    if (!(await deps.identities.releaseIdentity(tenantId, identity))) throw notFound('identity', identity);
    res.status(204).end();
  });

  return router;
}
