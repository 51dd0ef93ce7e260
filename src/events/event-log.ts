// Appends message events to the event log that event webhooks deliver from (issue 17, item 1).
// Called from the places that apply events (the SES event endpoint, one-click unsubscribe, a
// send that fails its message), each with one line. A tenant without an enabled endpoint that
// wants the event costs nothing but a cached lookup: its endpoint list is read at most once per
// EVENT_WEBHOOK_ENDPOINT_CACHE_SECONDS per process (an endpoint created in this process is seen
// at once, in another one within that time).
import { anyEnabledWants, eventData, eventTypeOf, messageEventId, type MessageEvent } from '../domain/event-webhooks';
import type { MessageEffect } from '../domain/ses-event';
import { ERASED_ADDRESS } from '../domain/erasure';
import type { MessageRecord } from '../adapters/dynamo/types';
import type { EventWebhookEndpoint, EventWebhookTable } from '../adapters/dynamo/event-webhooks';
import type { Logger } from '../logging';
import type { Config } from '../config';

export interface EventLogSettings {
  retentionDays: number;
  endpointCacheMs: number;
  /** Delivery's read lag: an entry is committed within it of its time, or moved (EventWebhookTable.appendEvent). */
  readLagMs?: number;
}

/** What applyEffect answered for an event (src/adapters/dynamo/messages.ts). */
export interface AppliedEffect {
  found: boolean;
  applied: boolean;
  superseded?: boolean;
  before?: MessageRecord;
  effect?: MessageEffect;
}

export class EventLog {
  private readonly cache = new Map<string, { at: number; endpoints: Promise<EventWebhookEndpoint[]> }>();

  constructor(
    private readonly table: Pick<EventWebhookTable, 'listEndpoints' | 'appendEvent'>,
    private readonly log: Pick<Logger, 'error'>,
    private readonly settings: EventLogSettings,
  ) {}

  /** The tenant's endpoints, from the cache while it is fresh. */
  endpointsOf(tenantId: string): Promise<EventWebhookEndpoint[]> {
    const cached = this.cache.get(tenantId);
    if (cached && Date.now() - cached.at < this.settings.endpointCacheMs) return cached.endpoints;
    const endpoints = this.table.listEndpoints(tenantId);
    this.cache.set(tenantId, { at: Date.now(), endpoints });
    // A failed read is not kept: the next event asks again.
    endpoints.catch(() => this.cache.delete(tenantId));
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return endpoints;
  }

  /** An endpoint of the tenant changed here: the next event reads the list again. */
  forget(tenantId: string): void {
    this.cache.delete(tenantId);
  }

  /**
   * Logs an event the message took: at its first application, and again when it comes back as a
   * repeat of that same event (same flag time), so an entry a crash kept from being written is
   * written by the redelivery; the entry's id keeps it to one. Throws when the write fails (the
   * SES endpoint then fails the request and SNS delivers the event again).
   */
  async noteEffect(result: AppliedEffect, ref: { transactionId: string; batchId: string; messageId: string }): Promise<void> {
    const before = result.before;
    const effect = result.effect;
    if (!result.found || result.superseded || !before || !effect) return;
    const sameEvent = result.applied || (before as unknown as Record<string, unknown>)[effect.flag] === effect.at;
    const type = eventTypeOf(effect);
    if (!sameEvent || !type || before.recipient_email === ERASED_ADDRESS) return;
    await this.append({
      id: messageEventId({ transactionId: ref.transactionId, messageId: ref.messageId, type, discriminator: effect.flag, at: effect.at }),
      type,
      occurred_at: effect.at,
      tenant_id: before.tenant_id,
      transaction_id: ref.transactionId,
      batch_id: ref.batchId,
      message_id: ref.messageId,
      email: before.recipient_email,
      data: eventData(effect),
    });
  }

  /** A send that failed its message (the worker). Never throws: sending must not wait on the log; a failed write is logged. */
  async noteFailed(message: MessageRecord, failure: { code: string; reason: string }): Promise<void> {
    const at = new Date().toISOString();
    const round = String(message.soft_bounce_retries ?? 0);
    const event: MessageEvent = {
      id: messageEventId({
        transactionId: message.transaction_id,
        messageId: message.message_id,
        type: 'failed',
        discriminator: round,
        at: '',
      }),
      type: 'failed',
      occurred_at: at,
      tenant_id: message.tenant_id,
      transaction_id: message.transaction_id,
      batch_id: message.batch_id,
      message_id: message.message_id,
      email: message.recipient_email,
      data: { failure_code: failure.code, failure_reason: failure.reason.slice(0, 1000) },
    };
    try {
      await this.append(event);
    } catch (error) {
      this.log.error('failed event not logged for event webhooks', {
        transaction_id: message.transaction_id,
        message_id: message.message_id,
        error: (error as Error).message,
      });
    }
  }

  private async append(event: MessageEvent): Promise<void> {
    const endpoints = await this.endpointsOf(event.tenant_id);
    if (!anyEnabledWants(endpoints, event)) return;
    await this.table.appendEvent(event, this.settings.retentionDays, {
      ...(this.settings.readLagMs !== undefined ? { lagMs: this.settings.readLagMs } : {}),
    });
  }
}

export function eventLogSettings(
  config: Pick<Config, 'EVENT_LOG_RETENTION_DAYS' | 'EVENT_WEBHOOK_ENDPOINT_CACHE_SECONDS' | 'EVENT_WEBHOOK_READ_LAG_SECONDS'>,
): EventLogSettings {
  return {
    retentionDays: config.EVENT_LOG_RETENTION_DAYS,
    endpointCacheMs: config.EVENT_WEBHOOK_ENDPOINT_CACHE_SECONDS * 1000,
    readLagMs: config.EVENT_WEBHOOK_READ_LAG_SECONDS * 1000,
  };
}
