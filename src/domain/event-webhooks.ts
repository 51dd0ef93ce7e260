// Per-message event webhooks (issue 17, item 1), the pure part: which message events there are,
// how an applied SES effect becomes one (with a stable id, so every copy a receiver gets of an
// event carries the same id), which endpoint wants which event, how a delivery batch is cut,
// how long a failing endpoint waits before the next try, and the body it is sent.
import { createHash } from 'node:crypto';
import type { EffectKind, MessageEffect } from './ses-event';

export const EVENT_TYPES = [
  'sent',
  'delivered',
  'bounced',
  'complained',
  'opened',
  'clicked',
  'failed',
  'unsubscribed',
  'delivery_delayed',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** At most this many events in one POST. */
export const MAX_EVENTS_PER_POST = 100;

const TYPE_OF_KIND: Partial<Record<EffectKind, EventType>> = {
  send: 'sent',
  delivery: 'delivered',
  bounce: 'bounced',
  complaint: 'complained',
  open: 'opened',
  click: 'clicked',
  reject: 'failed',
  rendering_failure: 'failed',
  delivery_delay: 'delivery_delayed',
};

/** One message event as the log keeps it and a receiver gets it. */
export interface MessageEvent {
  /** Stable: derived from the message, the event and its time; the same for every copy. */
  id: string;
  type: EventType;
  /** When it happened (the SES event's time, or the engine's for its own events). */
  occurred_at: string;
  tenant_id: string;
  transaction_id: string;
  batch_id: string;
  message_id: string;
  email: string;
  data: Record<string, unknown>;
}

/** The event type of an effect as it applied to its message, or undefined for one that is no message event (an opt-in). */
export function eventTypeOf(effect: Pick<MessageEffect, 'kind' | 'flag'>): EventType | undefined {
  if (effect.kind === 'subscription') return effect.flag === 'unsubscribed_time' ? 'unsubscribed' : undefined;
  return TYPE_OF_KIND[effect.kind];
}

/** The event's id: a hash of what makes it this event, so a redelivered SES event gets the same one. */
export function messageEventId(parts: { transactionId: string; messageId: string; type: EventType; discriminator: string; at: string }) {
  const digest = createHash('sha256')
    .update([parts.transactionId, parts.messageId, parts.type, parts.discriminator, parts.at].join('\n'))
    .digest('hex');
  return `evt_${digest.slice(0, 32)}`;
}

/** What the receiver gets in `data`, from an effect's fields: no internal names, a soft bounce's retry said plainly. */
export function eventData(effect: Pick<MessageEffect, 'kind' | 'fields' | 'softBounce' | 'outcome'>): Record<string, unknown> {
  // SES's fields, each string cut to 2 KiB: a tenant's 300 KB click URL must not make the entry unwritable.
  const data: Record<string, unknown> = Object.fromEntries(
    Object.entries(effect.fields).map(([k, v]) => [k, typeof v === 'string' && v.length > 2048 ? v.slice(0, 2048) : v]),
  );
  if (effect.kind === 'bounce') {
    data.bounce_class ??= effect.softBounce ? 'soft' : 'hard';
    // A soft bounce the engine will retry is not the message's final outcome.
    data.final = effect.outcome;
  }
  return data;
}

export interface EndpointFilter {
  status: 'enabled' | 'disabled';
  event_types: readonly string[];
  campaign_id?: string;
}

/** Whether an endpoint subscribes to the event (its types, and its one campaign if it names one). */
export function endpointWants(endpoint: EndpointFilter, event: Pick<MessageEvent, 'type' | 'transaction_id'>): boolean {
  if (!endpoint.event_types.includes(event.type)) return false;
  return endpoint.campaign_id === undefined || endpoint.campaign_id === event.transaction_id;
}

/** Whether any enabled endpoint of the tenant wants the event: only then is it logged. */
export function anyEnabledWants(endpoints: readonly EndpointFilter[], event: Pick<MessageEvent, 'type' | 'transaction_id'>): boolean {
  return endpoints.some((e) => e.status === 'enabled' && endpointWants(e, event));
}

/**
 * The wait before try `failures + 1` of a batch: doubling from 1 s up to the cap, with ±20 %
 * jitter so endpoints that failed together do not retry together.
 */
export function retryDelayMs(failures: number, capMs: number, random = Math.random): number {
  const base = Math.min(capMs, 1000 * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.round(Math.min(capMs, base * (0.8 + 0.4 * random())));
}

/**
 * Splits the log entries read past the cursor into what is still to deliver and what is given up
 * (logged longer than `maxAgeMs` ago): an event too old never holds back the ones after it.
 */
export function splitByAge<T extends { logged_at: string }>(entries: T[], nowMs: number, maxAgeMs: number, sinceMs = 0) {
  const oldest = nowMs - maxAgeMs;
  // A replay's entries are as old as the replay at most (`sinceMs`: when it was asked for).
  const age = (e: T) => Math.max(Date.parse(e.logged_at), sinceMs);
  return { deliver: entries.filter((e) => age(e) >= oldest), givenUp: entries.filter((e) => age(e) < oldest) };
}

/** The POST body for a batch, and its webhook-id: the same events give the same id (a retried POST is recognisable). */
export function batchPayload(endpointId: string, events: MessageEvent[], replayId?: string): { webhookId: string; body: string } {
  // A replay's POSTs have ids of their own (stable over that replay's retries): a receiver that
  // drops a webhook-id it has seen would drop the replay it asked for. Event ids stay the same.
  const digest = createHash('sha256')
    .update((replayId !== undefined ? `replay:${replayId}:` : '') + events.map((e) => e.id).join(','))
    .digest('hex');
  const webhookId = `msg_${digest.slice(0, 32)}`;
  const body = JSON.stringify({ type: 'message.events', endpoint_id: endpointId, events });
  return { webhookId, body };
}

/** A problem with a replay range, or undefined: ISO times, from before to, at most `maxMs` long, not in the future. */
export function replayRangeProblem(
  from: string | undefined,
  to: string | undefined,
  opts: { nowMs: number; maxMs: number; retentionMs: number },
): { field: 'from' | 'to'; message: string } | undefined {
  const parse = (v: string | undefined) => (v !== undefined && ISO_TIME.test(v) ? Date.parse(v) : NaN);
  const start = parse(from);
  const end = to === undefined ? opts.nowMs : parse(to);
  if (Number.isNaN(start)) return { field: 'from', message: 'from must be an ISO-8601 time with a zone (2026-01-31T12:00:00Z).' };
  if (Number.isNaN(end)) return { field: 'to', message: 'to must be an ISO-8601 time with a zone (2026-01-31T12:00:00Z).' };
  if (end <= start) return { field: 'to', message: 'to must be later than from.' };
  if (end > opts.nowMs) return { field: 'to', message: 'to is in the future: a replay re-sends what was logged.' };
  if (end - start > opts.maxMs) return { field: 'to', message: `A replay covers at most ${Math.round(opts.maxMs / 3_600_000)} hours.` };
  if (start < opts.nowMs - opts.retentionMs) {
    return { field: 'from', message: `The event log keeps ${Math.round(opts.retentionMs / 86_400_000)} days; from is older.` };
  }
  if (start > opts.nowMs) return { field: 'from', message: 'from is in the future.' };
  return undefined;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
