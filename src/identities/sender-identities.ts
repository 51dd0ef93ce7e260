// Claiming a sender identity and checking a template's senders against the tenant's
// identities: shared by the identity API, template creation, the send path and local seeding.
import type { IdentityRecord } from '../adapters/dynamo/types';
import type { IdentityState, IdentityVerifier } from '../adapters/identity-verifier';
import {
  candidateIdentities,
  claimExpired,
  claimRootOf,
  coveringIdentity,
  parseMailbox,
  sendingConfigurationSet,
  type ParsedIdentity,
} from '../domain/sender-identity';
import type { IdentityClaim, IdentityLimits, Identities } from '../ports';

/** The record's fields that mirror SES's state of the identity. */
export const stateFields = (state: IdentityState) => ({
  verified_for_sending: state.verifiedForSending,
  verification_status: state.verificationStatus,
  dkim_status: state.dkimStatus ?? null,
  dkim_tokens: state.dkimTokens,
  dkim_signing_zone: state.dkimSigningZone ?? null,
  mail_from_domain: state.mailFromDomain ?? null,
});

type ClaimDeps = {
  identities: Pick<Identities, 'claimIdentity' | 'updateIdentity' | 'releaseIdentity' | 'heldClaim' | 'releaseHeldClaim'>;
  verifier: Pick<IdentityVerifier, 'create' | 'read' | 'sendingState' | 'remove'>;
};

export interface ClaimOptions {
  /** Set on the identity (null removes it); the caller has checked the tenant may use it. */
  configurationSet?: string | null;
  /** The tenant's caps; none when seeding. */
  limits?: IdentityLimits;
  /** How long another tenant's claim may stay unverified before this claim may take it over; never, unset. */
  pendingTtlMs?: number;
}

/**
 * Claims the identity for the tenant, then has SES create it and records SES's state; for an
 * identity the tenant had already, SES's remembered state (SES is asked to create it again
 * only when it has lost it). An identity SES already had when this tenant's claim was new was
 * made outside the engine (an operator, or an earlier deployment): holding it would skip the
 * DNS proof, so the claim is given up and it counts as taken. A claim whose SES call failed is
 * given up too, so that a retry starts afresh. Another tenant's claim past `pendingTtlMs` and
 * still unverified is released first (see releaseExpiredClaim).
 */
export async function claimSenderIdentity(
  deps: ClaimDeps,
  tenantId: string,
  parsed: ParsedIdentity,
  opts: ClaimOptions = {},
): Promise<IdentityClaim> {
  const at = new Date().toISOString();
  const record: IdentityRecord = {
    tenant_id: tenantId,
    identity: parsed.identity,
    type: parsed.type,
    verified_for_sending: false,
    verification_status: 'PENDING',
    dkim_tokens: [],
    ...(opts.configurationSet ? { configuration_set: opts.configurationSet } : {}),
    created_at: at,
    updated_at: at,
  };
  let claim = await deps.identities.claimIdentity(record, opts.limits);
  if (claim.outcome === 'taken' && opts.pendingTtlMs !== undefined) {
    const root = claimRootOf(parsed.identity)!;
    if ((await releaseExpiredClaim(deps, root, opts.pendingTtlMs)) !== 'kept')
      claim = await deps.identities.claimIdentity(record, opts.limits);
  }
  if (claim.outcome === 'taken' || claim.outcome === 'limit') return claim;
  const state = claim.outcome === 'created' ? await createdInSes(deps, tenantId, parsed.identity) : await stateInSes(deps, parsed.identity);
  if (!state) return { outcome: 'taken' };
  const fields = {
    ...stateFields(state),
    ...(opts.configurationSet !== undefined ? { configuration_set: opts.configurationSet } : {}),
  };
  const updated = await deps.identities.updateIdentity(tenantId, parsed.identity, fields);
  // Released meanwhile by a DELETE that came between: as if the claim had never been.
  if (!updated) return { outcome: 'taken' };
  return { outcome: claim.outcome, record: updated };
}

/** SES's state of a new claim's identity, created now; the claim is given up if that fails, or (undefined) if SES had it already. */
async function createdInSes(deps: ClaimDeps, tenantId: string, identity: string): Promise<IdentityState | undefined> {
  let created;
  try {
    created = await deps.verifier.create(identity);
  } catch (error) {
    await deps.identities.releaseIdentity(tenantId, identity);
    throw error;
  }
  if (!created.existed) return created.state;
  await deps.identities.releaseIdentity(tenantId, identity);
  return undefined;
}

/** SES's state of an identity the tenant holds, as remembered for a minute; created again if SES has lost it. */
async function stateInSes(deps: ClaimDeps, identity: string): Promise<IdentityState> {
  const state = await deps.verifier.sendingState(identity);
  return state.verificationStatus === 'NOT_FOUND' ? (await deps.verifier.create(identity)).state : state;
}

/**
 * Releases the claim on `root` if it is past `ttlMs` with none of its identities verified, so
 * that a squatter cannot hold a domain it never proves: SES is asked first (an identity it has
 * verified since is recorded so, and the claim kept), then SES deletes the old claimant's
 * identities (the next claimant proves the domain afresh, with DKIM tokens of its own), then
 * the claim goes if it is still as read. 'free' when there was no claim by then.
 */
export async function releaseExpiredClaim(
  deps: ClaimDeps,
  root: string,
  ttlMs: number,
  now = Date.now(),
): Promise<'released' | 'free' | 'kept'> {
  const held = await deps.identities.heldClaim(root);
  if (!held) return 'free';
  if (!claimExpired(held.identities, ttlMs, now)) return 'kept';
  for (const identity of held.identities) {
    const state = await deps.verifier.read(identity.identity);
    if (state.verifiedForSending) {
      await deps.identities.updateIdentity(held.tenantId, identity.identity, stateFields(state));
      return 'kept';
    }
  }
  for (const identity of held.identities) await deps.verifier.remove(identity.identity);
  return (await deps.identities.releaseHeldClaim(held)) ? 'released' : 'kept';
}

export type SenderField = 'from' | 'reply_to';
export type SenderCheck =
  | {
      ok: true;
      /** The identity that covers `from`, and its ARN (FromEmailAddressIdentityArn). */
      identity: IdentityRecord;
      identityArn: string;
      /** The identity's configuration set if the tenant may use it, else the tenant's; undefined: the engine's. */
      configurationSet?: string;
    }
  | { ok: false; field: SenderField; address: string; reason: string };

/**
 * Whether the tenant may send with this `from` and `reply_to`: each must be covered by one of
 * its identities (an address identity, or its domain exactly) that SES has verified for sending.
 * One read of the tenant's identities, whatever the number of candidates; SES's state comes
 * from the verifier (remembered briefly against AWS).
 */
export async function checkSenders(
  deps: {
    identities: Pick<Identities, 'senderIdentities'>;
    verifier: Pick<IdentityVerifier, 'sendingState' | 'arn' | 'defaultConfigurationSet'>;
  },
  tenantId: string,
  senders: { from: string; reply_to?: string },
): Promise<SenderCheck> {
  const fields: [SenderField, string][] = [['from', senders.from]];
  if (senders.reply_to !== undefined) fields.push(['reply_to', senders.reply_to]);
  const addresses: [SenderField, string][] = [];
  for (const [field, raw] of fields) {
    const mailbox = parseMailbox(raw);
    if (!mailbox) return { ok: false, field, address: raw, reason: 'is not an address or "Name <address>"' };
    addresses.push([field, mailbox.address]);
  }
  const owned = await deps.identities.senderIdentities(
    tenantId,
    addresses.flatMap(([, a]) => candidateIdentities(a)),
  );
  let fromIdentity: IdentityRecord | undefined;
  for (const [field, address] of addresses) {
    const identity = coveringIdentity(address, owned.identities);
    // The same answer whether nobody or another tenant holds it: nothing about other tenants leaks.
    if (!identity) return { ok: false, field, address, reason: `${address} is not covered by a sender identity of this tenant` };
    const state = await deps.verifier.sendingState(identity.identity);
    if (!state.verifiedForSending) {
      return {
        ok: false,
        field,
        address,
        reason: `the identity ${identity.identity} is not verified for sending (${state.verificationStatus})`,
      };
    }
    fromIdentity ??= identity;
  }
  return {
    ok: true,
    identity: fromIdentity!,
    identityArn: deps.verifier.arn(fromIdentity!.identity),
    configurationSet: sendingConfigurationSet(
      fromIdentity!.configuration_set,
      owned.configurationSet,
      deps.verifier.defaultConfigurationSet,
    ),
  };
}
