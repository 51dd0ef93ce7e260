// Event webhook endpoints and the message event log in the single table (issue 17, item 1).
//
// An endpoint is an item in its tenant's EVENT_WEBHOOKS# partition (a query reads all of a
// tenant's: at most EVENT_WEBHOOKS_MAX_PER_TENANT). The log is one partition per tenant and
// hour of writing (EVENT_LOG#<tenant>#<yyyy-mm-ddThh>), sorted by write time then event id, so a
// reader walks it in write order from a cursor (the sort key of the last entry it delivered). An
// entry is written in one transaction with a marker under its event id, so a redelivered SES
// event writes the entry it missed, but never a second one. Both expire by the table's TTL.
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { EndpointFilter, MessageEvent } from '../../domain/event-webhooks';
import { TTL_ATTRIBUTE } from './schema';
import { conditionHeld, failedCondition, isTransactionConflict, recordOf, Table } from './table';

export interface EventWebhookEndpoint extends EndpointFilter {
  tenant_id: string;
  endpoint_id: string;
  url: string;
  description?: string;
  secret: string;
  /** The secret before the last rotation, still signed with until `previous_secret_until`. */
  previous_secret?: string;
  previous_secret_until?: string;
  created_at: string;
  updated_at: string;
  /** Sort key of the last log entry delivered (or passed over); where live delivery resumes. */
  cursor: string;
  delivered_count?: number;
  given_up_count?: number;
  last_success_at?: string;
  last_error?: string;
  last_error_at?: string;
}

/** A log entry: the event and when it was logged. */
export interface LoggedEvent {
  sk: string;
  logged_at: string;
  event: MessageEvent;
}

const endpointPartition = (tenantId: string) => `EVENT_WEBHOOKS#${tenantId}`;
const endpointKey = (tenantId: string, endpointId: string) => ({ PK: endpointPartition(tenantId), SK: `ENDPOINT#${endpointId}` });
const hourOf = (iso: string) => iso.slice(0, 13);
const logPartition = (tenantId: string, hour: string) => `EVENT_LOG#${tenantId}#${hour}`;

/** The read lag delivery uses unless configured (EVENT_WEBHOOK_READ_LAG_SECONDS). */
const DEFAULT_READ_LAG_MS = 5_000;
/** What an append attempt leaves of the read lag: the worker's and the writer's clocks may differ this much, plus slack. */
const LAG_MARGIN_MS = 2_000;
/** Clock difference allowed between the writing process and the delivering worker. */
const CLOCK_MARGIN_MS = 1_000;
const MIN_ATTEMPT_MS = 1_000;
/** Attempts of one append before it fails (the SES event request then fails, and SNS redelivers). */
const APPEND_ATTEMPTS = 5;

export interface AppendOptions {
  /** The read lag of delivery (EVENT_WEBHOOK_READ_LAG_SECONDS in ms). */
  lagMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** An entry of `event` logged at `at` (epoch ms): its time, its TTL and its sort key. */
function datedAt(event: MessageEvent, retentionDays: number, at: number) {
  const loggedAt = new Date(at).toISOString();
  return { loggedAt, expires: Math.floor(at / 1000) + retentionDays * 86_400, sk: `${loggedAt}#${event.id}` };
}

/** An error that says DynamoDB refused the write (so nothing of it was committed). */
function refusedOutright(error: unknown): boolean {
  const name = (error as { name?: string }).name ?? '';
  return isTransactionConflict(error) || /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|ValidationException/.test(name);
}

/** The cursor that starts at `iso` (before any entry logged at or after it). */
export const cursorAt = (iso: string) => `${iso}#`;

export class EventWebhookTable extends Table {
  async createEndpoint(record: EventWebhookEndpoint): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...endpointKey(record.tenant_id, record.endpoint_id), ...record },
        ConditionExpression: 'attribute_not_exists(PK)',
      }),
    );
  }

  getEndpoint(tenantId: string, endpointId: string): Promise<EventWebhookEndpoint | undefined> {
    return this.queryItem<EventWebhookEndpoint>(endpointKey(tenantId, endpointId), true);
  }

  async listEndpoints(tenantId: string): Promise<EventWebhookEndpoint[]> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': endpointPartition(tenantId) },
      }),
    );
    return (Items ?? []).map((i) => recordOf<EventWebhookEndpoint>(i));
  }

  /** Sets fields of an existing endpoint; undefined when there is none. */
  async updateEndpoint(
    tenantId: string,
    endpointId: string,
    fields: Partial<EventWebhookEndpoint>,
  ): Promise<EventWebhookEndpoint | undefined> {
    const entries = Object.entries({ ...fields, updated_at: new Date().toISOString() }).filter(([, v]) => v !== undefined);
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: endpointKey(tenantId, endpointId),
          UpdateExpression: `SET ${entries.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeNames: Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k])),
          ExpressionAttributeValues: Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v])),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return recordOf<EventWebhookEndpoint>(Attributes!);
    } catch (error) {
      if (failedCondition(error)) return undefined;
      throw error;
    }
  }

  deleteEndpoint(tenantId: string, endpointId: string): Promise<boolean> {
    return conditionHeld(
      this.doc.send(
        new DeleteCommand({ TableName: this.table, Key: endpointKey(tenantId, endpointId), ConditionExpression: 'attribute_exists(PK)' }),
      ),
    );
  }

  /**
   * The delivery's progress: the cursor, counts added, the last success or error. Only while the
   * endpoint exists; false once it was deleted.
   */
  async recordProgress(
    tenantId: string,
    endpointId: string,
    progress: { cursor?: string; delivered: number; givenUp: number; successAt?: string; error?: string },
  ): Promise<boolean> {
    const now = new Date().toISOString();
    const set = ['updated_progress_at = :now'];
    const values: Record<string, unknown> = { ':now': now, ':d': progress.delivered, ':g': progress.givenUp };
    if (progress.cursor !== undefined) {
      set.push('#cursor = :c');
      values[':c'] = progress.cursor;
    }
    if (progress.successAt) {
      set.push('last_success_at = :s');
      values[':s'] = progress.successAt;
    }
    if (progress.error) {
      set.push('last_error = :e', 'last_error_at = :now');
      values[':e'] = progress.error.slice(0, 500);
    }
    return conditionHeld(
      this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: endpointKey(tenantId, endpointId),
          UpdateExpression: `SET ${set.join(', ')} ADD delivered_count :d, given_up_count :g`,
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeNames: progress.cursor !== undefined ? { '#cursor': 'cursor' } : undefined,
          ExpressionAttributeValues: values,
        }),
      ),
    );
  }

  /**
   * Appends the event unless an entry with its id was written before; true when this call wrote it.
   *
   * Delivery reads the log `lagMs` behind now, so an entry must be committed within the lag of
   * the time in its key, or live delivery can pass it. Each attempt is therefore dated when it
   * starts and given at most the lag less a margin (the SDK's own retries included); a slow or
   * failed attempt is followed by one dated afresh. When an attempt whose answer never came did
   * commit (a later attempt finds the marker), its entry may be dated too far back: it is moved
   * to now, so delivery reaches it (once the reader had passed it, it was never sent; if it had
   * not, the receiver sees the event id twice). A redelivery that finds the marker without such
   * an attempt in this call changes nothing.
   */
  async appendEvent(event: MessageEvent, retentionDays: number, opts: AppendOptions = {}): Promise<boolean> {
    const now = opts.now ?? Date.now;
    const lagMs = opts.lagMs ?? DEFAULT_READ_LAG_MS;
    const attemptMs = Math.max(MIN_ATTEMPT_MS, lagMs - LAG_MARGIN_MS);
    const marker = { PK: `EVENT_ID#${event.tenant_id}#${event.id}`, SK: 'EVENT' };
    let unanswered = false;
    for (let attempt = 1; ; attempt++) {
      const { loggedAt, expires, sk } = datedAt(event, retentionDays, now());
      try {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: { ...marker, log_sk: sk, [TTL_ATTRIBUTE]: expires },
                  ConditionExpression: 'attribute_not_exists(PK)',
                },
              },
              { Put: { TableName: this.table, Item: this.entryItem(event, loggedAt, sk, expires) } },
            ],
          }),
          { abortSignal: AbortSignal.timeout(attemptMs) },
        );
        return true;
      } catch (error) {
        if (failedCondition(error, 0)) {
          if (unanswered) await this.moveIfPassed(event, marker, retentionDays, lagMs, now);
          return false;
        }
        if (attempt >= APPEND_ATTEMPTS) throw error;
        // A timeout or a lost connection may have committed; a refusal (conflict, throttling) did not.
        if (!refusedOutright(error)) unanswered = true;
        await new Promise((r) => setTimeout(r, Math.min(500, 25 * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
  }

  private entryItem(event: MessageEvent, loggedAt: string, sk: string, expires: number) {
    return { PK: logPartition(event.tenant_id, hourOf(loggedAt)), SK: sk, logged_at: loggedAt, event, [TTL_ATTRIBUTE]: expires };
  }

  /**
   * The entry an unanswered attempt committed, moved to now when it is dated `lagMs` (less the
   * clock margin) or more before now: a read may have passed its place before it was there.
   */
  private async moveIfPassed(
    event: MessageEvent,
    marker: { PK: string; SK: string },
    retentionDays: number,
    lagMs: number,
    now: () => number,
  ): Promise<void> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: marker, ConsistentRead: true }));
    const oldSk = Item?.log_sk as string | undefined;
    if (!oldSk) return;
    const oldAt = oldSk.slice(0, oldSk.indexOf('#'));
    if (Date.parse(oldAt) > now() - lagMs + CLOCK_MARGIN_MS) return;
    const { loggedAt, expires, sk } = datedAt(event, retentionDays, now());
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: marker,
                UpdateExpression: 'SET log_sk = :new, #ttl = :ttl',
                ConditionExpression: 'log_sk = :old',
                ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
                ExpressionAttributeValues: { ':new': sk, ':old': oldSk, ':ttl': expires },
              },
            },
            { Delete: { TableName: this.table, Key: { PK: logPartition(event.tenant_id, hourOf(oldAt)), SK: oldSk } } },
            { Put: { TableName: this.table, Item: this.entryItem(event, loggedAt, sk, expires) } },
          ],
        }),
      );
    } catch (error) {
      // Another call moved it first: that one stands.
      if (!failedCondition(error, 0)) throw error;
    }
  }

  /**
   * Log entries after `cursor` and logged at or before `until` (ISO), in log order, at most
   * `limit` read (a caller filtering them may get fewer it wants). Walks hour partitions, so a
   * cursor hours behind costs one small query per empty hour.
   */
  async readLog(tenantId: string, cursor: string, until: string, limit: number): Promise<LoggedEvent[]> {
    const out: LoggedEvent[] = [];
    const upper = `${until}#~`;
    let after = cursor;
    let hour = hourOf(cursor);
    const lastHour = hourOf(until);
    // A cursor past `until` (an endpoint made within the read lag) has nothing to read yet.
    while (hour <= lastHour && out.length < limit && `${after}!` <= upper) {
      let start: Record<string, unknown> | undefined;
      do {
        const { Items, LastEvaluatedKey } = await this.doc.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'PK = :pk AND SK BETWEEN :lo AND :hi',
            // "!" sorts before every character an event id has: the first key after the cursor.
            ExpressionAttributeValues: { ':pk': logPartition(tenantId, hour), ':lo': `${after}!`, ':hi': upper },
            Limit: limit - out.length,
            ExclusiveStartKey: start,
            ConsistentRead: true,
          }),
        );
        for (const item of Items ?? []) {
          out.push({ sk: item.SK as string, logged_at: item.logged_at as string, event: item.event as MessageEvent });
          after = item.SK as string;
        }
        start = LastEvaluatedKey;
      } while (start && out.length < limit);
      hour = nextHour(hour);
    }
    return out;
  }
}

function nextHour(hour: string): string {
  return new Date(Date.parse(`${hour}:00:00.000Z`) + 3_600_000).toISOString().slice(0, 13);
}
