// Sender identities in DynamoDB. Three kinds of item:
// - the tenant's identity item (IDENTITIES#<tenant> / IDENTITY#<identity>): the record the API
//   lists and the send path reads; it exists only while the tenant holds the identity's domain;
// - the registrable domain's claim item (SENDER_DOMAIN#<root>): `tenant_id`, the set of that
//   tenant's identities under the domain, and a `claim_version` every claim and release moves.
//   A claim adds to it only where no other tenant's identities are in it, in one transaction
//   with the identity item: whichever of two racing tenants commits first holds the domain, the
//   other's condition fails. A domain whose set is empty is free. One item per registrable
//   domain is what keeps a parent and its subdomains with one tenant, with no window between
//   two checks;
// - the tenant's counts (TENANT#<tenant> / IDENTITY_COUNTS): its identities (`identity_count`)
//   and how many are not verified (`pending_count`), moved in the same transactions as the
//   identity items, so the caps hold whatever claims run at once.
import { DeleteCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { claimRootOf } from '../../domain/sender-identity';
import type { Cursor, HeldClaim, IdentityClaim, IdentityLimits, Identities, Page } from '../../ports';
import { SetExpression } from './expressions';
import { keys, ranges } from './keys';
import { cancellationReasons, conditionHeld, failedCondition, recordOf, retryConflicts, Table } from './table';
import type { IdentityRecord, TenantRecord } from './types';

const now = () => new Date().toISOString();
/** DynamoDB's cap on the items of one transaction. */
const MAX_TRANSACTION_ITEMS = 100;
/** How often a release is tried again when the identity's verification changed under it. */
const RELEASE_ATTEMPTS = 5;

type IdentityFields = Parameters<Identities['updateIdentity']>[2];
type ClaimItem = { tenant_id: string; identities?: Set<string>; claim_version?: number };

function rootOf(identity: string): string {
  const root = claimRootOf(identity);
  if (!root) throw new Error(`${identity} is at a public suffix: it cannot be claimed`);
  return root;
}

export class IdentityTable extends Table implements Identities {
  async claimIdentity(record: IdentityRecord, limits?: IdentityLimits): Promise<IdentityClaim> {
    const { tenant_id: tenantId, identity } = record;
    const claim = {
      TableName: this.table,
      Key: keys.senderDomain(rootOf(identity)),
      UpdateExpression: 'SET tenant_id = :t, updated_at = :at ADD identities :id, claim_version :one',
      ConditionExpression: 'attribute_not_exists(PK) OR tenant_id = :t OR attribute_not_exists(identities)',
      ExpressionAttributeValues: { ':t': tenantId, ':id': new Set([identity]), ':at': now(), ':one': 1 },
    };
    const item = {
      TableName: this.table,
      Item: { ...keys.identity(tenantId, identity), ...record },
      ConditionExpression: 'attribute_not_exists(PK)',
    };
    const counts = {
      TableName: this.table,
      Key: keys.identityCounts(tenantId),
      UpdateExpression: 'SET tenant_id = :t ADD identity_count :one, pending_count :pending',
      ExpressionAttributeValues: { ':t': tenantId, ':one': 1, ':pending': record.verified_for_sending ? 0 : 1, ...limitValues(limits) },
      ...(limits && {
        ConditionExpression:
          '(attribute_not_exists(identity_count) OR identity_count < :maxTotal) AND (attribute_not_exists(pending_count) OR pending_count < :maxPending)',
      }),
    };
    try {
      // A conflict with a racing claim changes nothing: tried again, it meets that claim's outcome.
      await retryConflicts(() =>
        this.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: claim }, { Put: item }, { Update: counts }] })),
      );
      return { outcome: 'created', record };
    } catch (error) {
      if (failedCondition(error, 0)) return { outcome: 'taken' };
      if (!failedCondition(error, 1) && !failedCondition(error, 2)) throw error;
      // What the tenant has already is never refused by the caps.
      const existing = await this.getIdentity(tenantId, identity);
      if (existing) return { outcome: 'existing', record: existing };
      if (!failedCondition(error, 2) || !limits) throw error;
      return { outcome: 'limit', ...(await this.limitReached(tenantId, limits)) };
    }
  }

  /** Which cap a refused claim met: the total one first (only deleting lifts it; verifying lifts the pending one). */
  private async limitReached(tenantId: string, limits: IdentityLimits): Promise<{ limit: 'pending' | 'total'; max: number }> {
    const counts = await this.queryItem<{ identity_count?: number }>(keys.identityCounts(tenantId), true);
    return (counts?.identity_count ?? 0) >= limits.maxTotal
      ? { limit: 'total', max: limits.maxTotal }
      : { limit: 'pending', max: limits.maxPending };
  }

  getIdentity(tenantId: string, identity: string): Promise<IdentityRecord | undefined> {
    return this.queryItem<IdentityRecord>(keys.identity(tenantId, identity), true);
  }

  async updateIdentity(tenantId: string, identity: string, fields: IdentityFields): Promise<IdentityRecord | undefined> {
    const verified = fields.verified_for_sending;
    if (typeof verified === 'boolean') {
      const moved = await this.updateVerification(tenantId, identity, fields, verified);
      if (moved) return this.getIdentity(tenantId, identity);
    }
    // No change of verification (or no such identity): a plain update.
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({ ...this.identityUpdate(tenantId, identity, fields, 'attribute_exists(PK)'), ReturnValues: 'ALL_NEW' }),
      );
      return Attributes ? recordOf<IdentityRecord>(Attributes) : undefined;
    } catch (error) {
      if (failedCondition(error)) return undefined;
      throw error;
    }
  }

  /** The update of `fields` if the identity was not yet `verified`, moving the tenant's pending count with it; false if it was. */
  private async updateVerification(tenantId: string, identity: string, fields: IdentityFields, verified: boolean): Promise<boolean> {
    const update = this.identityUpdate(tenantId, identity, fields, 'attribute_exists(PK) AND verified_for_sending = :was', {
      ':was': !verified,
    });
    const counts = {
      TableName: this.table,
      Key: keys.identityCounts(tenantId),
      UpdateExpression: 'SET tenant_id = :t ADD pending_count :delta',
      ExpressionAttributeValues: { ':t': tenantId, ':delta': verified ? -1 : 1 },
    };
    try {
      await retryConflicts(() => this.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, { Update: counts }] })));
      return true;
    } catch (error) {
      if (failedCondition(error, 0)) return false;
      throw error;
    }
  }

  /** An UpdateItem of the identity's `fields` (`null` removes one) under `condition`. */
  private identityUpdate(tenantId: string, identity: string, fields: IdentityFields, condition: string, values = {}) {
    const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
    const remove = Object.entries(fields)
      .filter(([, v]) => v === null)
      .map(([name]) => name);
    const update = new SetExpression({}, { ':at': now(), ...values }).set('updated_at = :at').fields(set);
    remove.forEach((name, i) => (update.names[`#r${i}`] = name));
    const { UpdateExpression, ...params } = update.params;
    const removal = remove.length > 0 ? ` REMOVE ${remove.map((_, i) => `#r${i}`).join(', ')}` : '';
    return {
      TableName: this.table,
      Key: keys.identity(tenantId, identity),
      UpdateExpression: `${UpdateExpression}${removal}`,
      ...params,
      ConditionExpression: condition,
    };
  }

  async releaseIdentity(tenantId: string, identity: string): Promise<boolean> {
    const root = rootOf(identity);
    for (let attempt = 0; attempt < RELEASE_ATTEMPTS; attempt++) {
      const record = await this.getIdentity(tenantId, identity);
      if (!record) return false;
      // Conditional on the verification read, so the pending count moves by what the item was.
      const release = new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: this.table,
              Key: keys.identity(tenantId, identity),
              ConditionExpression: 'attribute_exists(PK) AND verified_for_sending = :v',
              ExpressionAttributeValues: { ':v': record.verified_for_sending },
            },
          },
          {
            Update: {
              TableName: this.table,
              Key: keys.senderDomain(root),
              UpdateExpression: 'DELETE identities :id SET updated_at = :at ADD claim_version :one',
              ConditionExpression: 'tenant_id = :t',
              ExpressionAttributeValues: { ':t': tenantId, ':id': new Set([identity]), ':at': now(), ':one': 1 },
            },
          },
          this.countsUpdate(tenantId, 1, record.verified_for_sending ? 0 : 1),
        ],
      });
      try {
        await retryConflicts(() => this.doc.send(release));
      } catch (error) {
        // Gone, or its verification changed since the read: read it again.
        if (failedCondition(error, 0)) continue;
        throw error;
      }
      await this.dropEmptyClaim(root, tenantId);
      return true;
    }
    throw new Error(`the verification of ${identity} kept changing while it was released`);
  }

  /** The counts' update for identities leaving: `total` of them, `pending` of which were not verified. */
  private countsUpdate(tenantId: string, total: number, pending: number) {
    return {
      Update: {
        TableName: this.table,
        Key: keys.identityCounts(tenantId),
        UpdateExpression: 'ADD identity_count :total, pending_count :pending',
        ExpressionAttributeValues: { ':total': -total, ':pending': -pending },
      },
    };
  }

  /** The domain's last identity gone: its claim item goes too (a racing claim that refilled it keeps it). */
  private async dropEmptyClaim(root: string, tenantId: string): Promise<void> {
    await conditionHeld(
      this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.senderDomain(root),
          ConditionExpression: 'attribute_not_exists(identities) AND tenant_id = :t',
          ExpressionAttributeValues: { ':t': tenantId },
        }),
      ),
    );
  }

  listIdentities(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<IdentityRecord>> {
    return this.queryPage<IdentityRecord>(ranges.identities(tenantId), limit, cursor);
  }

  async senderIdentities(tenantId: string, identities: string[]): Promise<{ identities: IdentityRecord[]; configurationSet?: string }> {
    const tenantKey = keys.tenant(tenantId);
    const items = await this.batchGet([tenantKey, ...[...new Set(identities)].map((i) => keys.identity(tenantId, i))], {
      consistent: true,
    });
    const tenant = items.find((i) => i.PK === tenantKey.PK && i.SK === tenantKey.SK);
    return {
      identities: items.filter((i) => i !== tenant).map((i) => recordOf<IdentityRecord>(i)),
      configurationSet: tenant ? (recordOf<TenantRecord>(tenant).ses_configuration_set ?? undefined) : undefined,
    };
  }

  async heldClaim(root: string): Promise<HeldClaim | undefined> {
    const claim = await this.queryItem<ClaimItem>(keys.senderDomain(root), true);
    if (!claim?.identities || claim.identities.size === 0) return undefined;
    const items = await this.batchGet(
      [...claim.identities].map((i) => keys.identity(claim.tenant_id, i)),
      { consistent: true },
    );
    return { root, tenantId: claim.tenant_id, version: claim.claim_version, identities: items.map((i) => recordOf<IdentityRecord>(i)) };
  }

  async releaseHeldClaim(claim: HeldClaim): Promise<boolean> {
    // One transaction: the claim item, each identity, the counts. More identities than that can
    // hold are not all unverified under the caps (IDENTITY_MAX_PENDING_PER_TENANT is at most 50).
    if (claim.identities.length + 2 > MAX_TRANSACTION_ITEMS) return false;
    const version = claim.version === undefined ? 'attribute_not_exists(claim_version)' : 'claim_version = :v';
    try {
      await retryConflicts(() =>
        this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: this.table,
                  Key: keys.senderDomain(claim.root),
                  ConditionExpression: `tenant_id = :t AND ${version}`,
                  ExpressionAttributeValues: { ':t': claim.tenantId, ...(claim.version === undefined ? {} : { ':v': claim.version }) },
                },
              },
              ...claim.identities.map((i) => ({
                Delete: {
                  TableName: this.table,
                  Key: keys.identity(claim.tenantId, i.identity),
                  ConditionExpression: 'attribute_exists(PK) AND verified_for_sending = :false',
                  ExpressionAttributeValues: { ':false': false },
                },
              })),
              this.countsUpdate(claim.tenantId, claim.identities.length, claim.identities.length),
            ],
          }),
        ),
      );
      return true;
    } catch (error) {
      if (cancellationReasons(error).some((r) => r.Code === 'ConditionalCheckFailed')) return false;
      throw error;
    }
  }
}

const limitValues = (limits?: IdentityLimits) => (limits ? { ':maxTotal': limits.maxTotal, ':maxPending': limits.maxPending } : {});
