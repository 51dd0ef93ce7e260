// API keys in DynamoDB. Each key is stored under the SHA-256 of its secret (what authentication
// reads, one GetItem), with an entry in its tenant's list (key id → hash) for listing, revoking
// and rotating by id. The tenant's list head counts its admin keys that are neither revoked nor
// set to expire; every write that changes that count is a transaction with it, so the last
// such key cannot be revoked, however many revocations run at once.
//
// The live keys a tenant holds (neither revoked nor expired) are capped (the route passes
// MAX_API_KEYS_PER_TENANT). Keys expire by the clock, which no counter follows, so the cap is
// checked by reading the tenant's keys, and made race-safe by a version on the list head:
// every write that adds a key bumps it, and a capped one only if it is still the version read
// before counting. Two creations at once cannot both take the last place: the second meets
// the first's version and counts again. Revocations only free places, so they leave it alone.
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import type { ApiKeys, Cursor, NewApiKey, Page } from '../../ports';
import { keys, ranges } from './keys';
import { conditionHeld, failedCondition, isTransactionConflict, recordOf, retryDelay, Table } from './table';
import type { ApiKeyRecord, TenantSettings } from './types';

/** A key's scopes. Keys stored before keys carried scopes keep `admin`: every key was its tenant's administrator then. */
export const scopesOf = (record: Pick<ApiKeyRecord, 'scopes'>): string[] => record.scopes ?? ['admin'];

/** Whether the key counts towards its tenant's admin keys: admin, not revoked, not set to expire. */
export const holdsAdmin = (record: ApiKeyRecord): boolean => scopesOf(record).includes('admin') && !record.revoked_at && !record.expires_at;

/** Whether the key authenticates at `now` (an ISO time): neither revoked nor past its expiry. */
export const isUsable = (record: ApiKeyRecord, now: string): boolean =>
  !record.revoked_at && !(record.expires_at && record.expires_at <= now);

/** What listings show of a secret: enough to tell keys apart, never more than a quarter of it. */
export const prefixOf = (secret: string): string => secret.slice(0, Math.min(10, Math.floor(secret.length / 4)));

type ListEntry = { key_id: string; key_hash: string; created_at: string };
type Write = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

const MAX_LIST_PAGE = 100; // BatchGetItem's limit
const MAX_ATTEMPTS = 5;

export class ApiKeyTable extends Table implements ApiKeys {
  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.apiKey(hash), ConsistentRead: true }));
    return Item ? recordOf<ApiKeyRecord>(Item) : undefined;
  }

  async createApiKey({ hash, record }: NewApiKey, limit?: number): Promise<'created' | 'limit_reached'> {
    const tenantId = record.tenant_id;
    for (let attempt = 0; ; attempt++) {
      const version = limit === undefined ? undefined : await this.listVersion(tenantId);
      if (limit !== undefined && (await this.liveKeys(tenantId)) >= limit) return 'limit_reached';
      const writes = [...this.newKeyWrites(hash, record), this.headWrite(tenantId, Number(holdsAdmin(record)), version)];
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: writes }));
        return 'created';
      } catch (error) {
        await this.againAfter(error, attempt, version !== undefined ? [writes.length - 1] : []);
      }
    }
  }

  async adoptApiKey(hash: string, prefix: string): Promise<ApiKeyRecord | undefined> {
    const record = await this.findApiKey(hash);
    if (!record || record.key_id) return record;
    const keyId = ulid();
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: keys.apiKey(hash),
                UpdateExpression: 'SET key_id = :id, #n = if_not_exists(#n, :name), prefix = :prefix',
                ConditionExpression: 'attribute_exists(PK) AND attribute_not_exists(key_id)',
                ExpressionAttributeNames: { '#n': 'name' },
                ExpressionAttributeValues: { ':id': keyId, ':name': 'key stored before key ids', ':prefix': prefix },
              },
            },
            this.listEntryWrite(record.tenant_id, { key_id: keyId, key_hash: hash, created_at: record.created_at }),
            ...(holdsAdmin(record) ? [this.countAdmins(record.tenant_id, 1)] : []),
          ],
        }),
      );
    } catch (error) {
      // Another process adopted it first: its id stands.
      if (!failedCondition(error) && !isTransactionConflict(error)) throw error;
    }
    return this.findApiKey(hash);
  }

  async getApiKey(tenantId: string, keyId: string): Promise<ApiKeyRecord | undefined> {
    return (await this.located(tenantId, keyId))?.record;
  }

  async listApiKeys(tenantId: string, limit: number, cursor?: Cursor): Promise<Page<ApiKeyRecord>> {
    const { Items, LastEvaluatedKey } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :sk)',
        ExpressionAttributeValues: { ':pk': ranges.apiKeys(tenantId).PK, ':sk': ranges.apiKeys(tenantId).skPrefix },
        Limit: Math.min(limit, MAX_LIST_PAGE),
        ExclusiveStartKey: cursor,
        ConsistentRead: true,
      }),
    );
    const entries = (Items ?? []).map((i) => recordOf<ListEntry>(i));
    const records = await this.recordsOf(entries.map((e) => e.key_hash));
    const items = entries.flatMap((e) => {
      const record = records.get(e.key_id);
      return record && record.tenant_id === tenantId ? [record] : [];
    });
    return { items, cursor: LastEvaluatedKey };
  }

  async revokeApiKey(tenantId: string, keyId: string, at: string): Promise<'revoked' | 'not_found' | 'already_revoked' | 'last_admin'> {
    // Each attempt reads the key as it is; a write that meets a change made meanwhile goes round again.
    for (let attempt = 0; ; attempt++) {
      const found = await this.located(tenantId, keyId);
      if (!found) return 'not_found';
      if (found.record.revoked_at) return 'already_revoked';
      const counted = holdsAdmin(found.record);
      const revoke: Write = {
        Update: {
          TableName: this.table,
          Key: keys.apiKey(found.hash),
          UpdateExpression: 'SET revoked_at = :at',
          // As it was read: unrevoked, and a counted key still not set to expire.
          ConditionExpression: `tenant_id = :t AND attribute_not_exists(revoked_at)${counted ? ' AND attribute_not_exists(expires_at)' : ''}`,
          ExpressionAttributeValues: { ':at': at, ':t': tenantId },
        },
      };
      const notLast: Write = {
        Update: {
          TableName: this.table,
          Key: keys.tenantApiKeyHead(tenantId),
          UpdateExpression: 'ADD admin_keys :n',
          ConditionExpression: 'admin_keys > :one',
          ExpressionAttributeValues: { ':n': -1, ':one': 1 },
        },
      };
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: counted ? [revoke, notLast] : [revoke] }));
        return 'revoked';
      } catch (error) {
        if (counted && failedCondition(error, 1)) return 'last_admin';
        if (!(failedCondition(error, 0) || isTransactionConflict(error)) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  async rotateApiKey(
    tenantId: string,
    keyId: string,
    successor: NewApiKey,
    expiresAt: string,
    limit?: number,
  ): Promise<'rotated' | 'not_found' | 'revoked' | 'limit_reached'> {
    for (let attempt = 0; ; attempt++) {
      const version = limit === undefined ? undefined : await this.listVersion(tenantId);
      const found = await this.located(tenantId, keyId);
      if (!found) return 'not_found';
      if (found.record.revoked_at) return 'revoked';
      // The old key is on its way out: the successor may stand beside it for the overlap.
      if (limit !== undefined && (await this.liveKeys(tenantId, keyId)) >= limit) return 'limit_reached';
      const seen = found.record.expires_at;
      const until = seen && seen < expiresAt ? seen : expiresAt;
      // A rotation never makes a key live longer: the successor keeps the old key's expiry, as read here.
      const record = seen ? { ...successor.record, expires_at: seen } : successor.record;
      // The old key stops counting as an admin key (it now expires) and the successor starts.
      const change = Number(holdsAdmin(record)) - Number(holdsAdmin(found.record));
      const writes: Write[] = [
        {
          Update: {
            TableName: this.table,
            Key: keys.apiKey(found.hash),
            UpdateExpression: 'SET expires_at = :until',
            ConditionExpression: `tenant_id = :t AND attribute_not_exists(revoked_at) AND ${seen ? 'expires_at = :seen' : 'attribute_not_exists(expires_at)'}`,
            ExpressionAttributeValues: { ':until': until, ':t': tenantId, ...(seen ? { ':seen': seen } : {}) },
          },
        },
        ...this.newKeyWrites(successor.hash, record),
        this.headWrite(tenantId, change, version),
      ];
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: writes }));
        return 'rotated';
      } catch (error) {
        await this.againAfter(error, attempt, version !== undefined ? [0, writes.length - 1] : [0]);
      }
    }
  }

  async touchApiKey(hash: string, at: string, unlessAfter: string): Promise<void> {
    await conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: keys.apiKey(hash),
          UpdateExpression: 'SET last_used_at = :at',
          ConditionExpression: 'attribute_exists(PK) AND (attribute_not_exists(last_used_at) OR last_used_at < :cutoff)',
          ExpressionAttributeValues: { ':at': at, ':cutoff': unlessAfter },
        }),
      ),
    );
  }

  async getTenantSettings(tenantId: string): Promise<TenantSettings> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.tenantSettings(tenantId), ConsistentRead: true }),
    );
    return Item ? recordOf<TenantSettings>(Item) : { tenant_id: tenantId, require_token: false };
  }

  async putTenantSettings(settings: TenantSettings): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.tenantSettings(settings.tenant_id), ...settings } }));
  }

  /** The version of the tenant's key list (0 before any key was added under the cap). */
  private async listVersion(tenantId: string): Promise<number> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.tenantApiKeyHead(tenantId), ConsistentRead: true }),
    );
    return (Item?.key_list_version as number | undefined) ?? 0;
  }

  /** How many of the tenant's keys, `except` one, authenticate now: the whole list is read (keys are added seldom). */
  private async liveKeys(tenantId: string, except?: string): Promise<number> {
    const now = new Date().toISOString();
    let count = 0;
    let cursor: Cursor | undefined;
    do {
      const page = await this.listApiKeys(tenantId, MAX_LIST_PAGE, cursor);
      count += page.items.filter((record) => record.key_id !== except && isUsable(record, now)).length;
      cursor = page.cursor;
    } while (cursor);
    return count;
  }

  /**
   * The list head's part of a write that adds a key: the admin count changed by `adminChange`
   * and the list version bumped, only from `version` when the cap was checked against it.
   */
  private headWrite(tenantId: string, adminChange: number, version: number | undefined): Write {
    const checked = version !== undefined;
    return {
      Update: {
        TableName: this.table,
        Key: keys.tenantApiKeyHead(tenantId),
        UpdateExpression: `SET key_list_version = ${checked ? ':next' : 'if_not_exists(key_list_version, :zero) + :one'}${adminChange !== 0 ? ' ADD admin_keys :n' : ''}`,
        ...(checked ? { ConditionExpression: version === 0 ? 'attribute_not_exists(key_list_version)' : 'key_list_version = :v' } : {}),
        ExpressionAttributeValues: {
          ...(checked ? { ':next': version + 1, ...(version === 0 ? {} : { ':v': version }) } : { ':zero': 0, ':one': 1 }),
          ...(adminChange !== 0 ? { ':n': adminChange } : {}),
        },
      },
    };
  }

  /**
   * After a failed transaction: waits and returns when another attempt may succeed (another
   * write came in between: a transaction conflict, or a failed condition on one of the items at
   * `retryable`, which were read before); otherwise, or after the last attempt, rethrows.
   */
  private async againAfter(error: unknown, attempt: number, retryable: number[]): Promise<void> {
    const changedMeanwhile = isTransactionConflict(error) || retryable.some((index) => failedCondition(error, index));
    if (!changedMeanwhile || attempt >= MAX_ATTEMPTS) throw error;
    await retryDelay(attempt + 1);
  }

  /** The tenant's key `keyId` and the hash it is stored under. */
  private async located(tenantId: string, keyId: string): Promise<{ hash: string; record: ApiKeyRecord } | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.tenantApiKey(tenantId, keyId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const hash = (Item as ListEntry).key_hash;
    const record = await this.findApiKey(hash);
    return record && record.tenant_id === tenantId ? { hash, record } : undefined;
  }

  /** The records stored under `hashes`, by key id. */
  private async recordsOf(hashes: string[]): Promise<Map<string, ApiKeyRecord>> {
    const out = new Map<string, ApiKeyRecord>();
    let request: Record<string, unknown>[] | undefined = hashes.map((h) => keys.apiKey(h));
    for (let attempt = 0; request && request.length > 0; attempt++) {
      if (attempt > 0) await retryDelay(attempt);
      const result: BatchGetCommandOutput = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.table]: { Keys: request, ConsistentRead: true } } }),
      );
      for (const item of result.Responses?.[this.table] ?? []) {
        const record = recordOf<ApiKeyRecord>(item);
        if (record.key_id) out.set(record.key_id, record);
      }
      request = result.UnprocessedKeys?.[this.table]?.Keys;
    }
    return out;
  }

  private newKeyWrites(hash: string, record: ApiKeyRecord & { key_id: string }): Write[] {
    return [
      { Put: { TableName: this.table, Item: { ...keys.apiKey(hash), ...record }, ConditionExpression: 'attribute_not_exists(PK)' } },
      this.listEntryWrite(record.tenant_id, { key_id: record.key_id, key_hash: hash, created_at: record.created_at }),
    ];
  }

  private listEntryWrite(tenantId: string, entry: ListEntry): Write {
    return {
      Put: {
        TableName: this.table,
        Item: { ...keys.tenantApiKey(tenantId, entry.key_id), ...entry },
        ConditionExpression: 'attribute_not_exists(PK)',
      },
    };
  }

  private countAdmins(tenantId: string, change: number): Write {
    return {
      Update: {
        TableName: this.table,
        Key: keys.tenantApiKeyHead(tenantId),
        UpdateExpression: 'ADD admin_keys :n',
        ExpressionAttributeValues: { ':n': change },
      },
    };
  }
}
