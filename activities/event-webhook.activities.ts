// Event webhook delivery (issue 17, item 1): one run of an endpoint's reader. It reads the
// tenant's event log in order from the cursor, up to EVENT_WEBHOOK_READ_LAG_SECONDS behind now
// (an entry is stamped with its writer's clock before its write lands: the lag covers writes in
// flight and clock skew between the processes that log), keeps the events the endpoint wants,
// and POSTs them, at most 100 a POST, whatever arrived within the batch window otherwise. A POST
// that fails is retried with the same events (same webhook-id) after a doubling wait, capped,
// while the cursor stays; events logged longer than EVENT_WEBHOOK_MAX_AGE_SECONDS ago are given
// up (counted on the endpoint with its last error) so they never hold back the rest. The cursor
// rides in the heartbeat, so a run a dead worker left is retried from there; the endpoint record
// keeps it too (with the counts and the last success and error) for GET and the next run.
import { Context } from '@temporalio/activity';
import type { DeliverEventsInput, DeliverEventsResult } from '../src/contracts/event-webhooks';
import { cursorAt, type EventWebhookEndpoint, type EventWebhookTable, type LoggedEvent } from '../src/adapters/dynamo/event-webhooks';
import { batchPayload, endpointWants, MAX_EVENTS_PER_POST, retryDelayMs, splitByAge } from '../src/domain/event-webhooks';
import { callbackUrlProblem } from '../src/domain/network-guard';
import { signWebhook } from '../src/domain/webhook-signature';
import {
  ForbiddenDestinationError,
  postToVetted,
  STRICT_CALLBACK_POLICY,
  UnresolvableDestinationError,
  vetDestination,
  type CallbackPolicy,
} from '../src/adapters/safe-http';
import type { Config } from '../src/config';
import type { Logger } from '../src/logging';

export interface EventWebhookSettings {
  lagMs: number;
  retryCapMs: number;
  maxAgeMs: number;
  windowMs: number;
  timeoutMs: number;
  /** How long one activity run delivers before it hands back to the workflow. */
  runMs: number;
  callbacks?: CallbackPolicy;
}

export function eventWebhookSettings(config: Config): EventWebhookSettings {
  return {
    lagMs: config.EVENT_WEBHOOK_READ_LAG_SECONDS * 1000,
    retryCapMs: config.EVENT_WEBHOOK_RETRY_CAP_SECONDS * 1000,
    maxAgeMs: config.EVENT_WEBHOOK_MAX_AGE_SECONDS * 1000,
    windowMs: config.EVENT_WEBHOOK_BATCH_WINDOW_MS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    runMs: 5 * 60_000,
    callbacks: { allowPrivateNetworks: config.CALLBACK_ALLOW_PRIVATE_NETWORKS, dnsServers: config.CALLBACK_DNS_SERVERS },
  };
}

export { eventWebhookTaskQueue } from '../src/contracts/event-webhooks';

export interface EventWebhookDeps {
  eventWebhooks: Pick<EventWebhookTable, 'getEndpoint' | 'updateEndpoint' | 'readLog' | 'recordProgress'>;
  log: Logger;
  settings: EventWebhookSettings;
}

/** Entries read per query: more than a POST holds, so an endpoint that wants few types still moves fast. */
const READ_PAGE = 500;
/** The endpoint record is read again at most this often (enabled? rotated secret?). */
const ENDPOINT_REFRESH_MS = 5000;

type Attempt = { ok: true } | { ok: false; error: string; gone?: boolean };

export function createEventWebhookActivities(deps: EventWebhookDeps) {
  const { settings } = deps;
  const table = deps.eventWebhooks;

  async function post(endpoint: EventWebhookEndpoint, webhookId: string, body: string): Promise<Attempt> {
    let url: URL;
    try {
      url = new URL(endpoint.url);
    } catch {
      return { ok: false, error: 'the URL does not parse' };
    }
    const problem = callbackUrlProblem(url);
    if (problem) return { ok: false, error: problem };
    const signal = AbortSignal.timeout(settings.timeoutMs);
    try {
      // Vetted now, connected to as vetted (src/adapters/safe-http.ts), as status webhooks are.
      const destination = await vetDestination(url, settings.callbacks ?? STRICT_CALLBACK_POLICY, signal);
      const timestamp = Math.floor(Date.now() / 1000);
      const status = await postToVetted(destination, {
        headers: {
          'content-type': 'application/json',
          'user-agent': 'email-engine-event-webhooks/1',
          'webhook-id': webhookId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatures(endpoint, webhookId, timestamp, body),
        },
        body,
        signal,
      });
      if (status >= 200 && status < 300) return { ok: true };
      return { ok: false, error: `HTTP ${status}`, gone: status === 410 };
    } catch (error) {
      // Never what our resolvers see: the tenant reads last_error back (as creation never tells it).
      if (error instanceof ForbiddenDestinationError) return { ok: false, error: 'the URL resolves to an address that is not allowed' };
      if (error instanceof UnresolvableDestinationError) return { ok: false, error: 'the URL host does not resolve' };
      return { ok: false, error: (error as Error).message.slice(0, 300) };
    }
  }

  async function deliverEvents(input: DeliverEventsInput): Promise<DeliverEventsResult> {
    const ctx = Context.current();
    const started = Date.now();
    const replay = input.replay;
    let endpoint = await table.getEndpoint(input.tenantId, input.endpointId);
    if (!endpoint) return { stop: 'deleted' };
    let readAt = Date.now();
    const resumed = (ctx.info.heartbeatDetails as { cursor?: string } | undefined)?.cursor;
    let cursor = resumed ?? input.cursor ?? endpoint.cursor ?? cursorAt(endpoint.created_at);
    const beat = () => ctx.heartbeat({ cursor });
    const pause = async (ms: number) => {
      for (let left = ms; left > 0; left -= 5000) {
        beat();
        await ctx.sleep(Math.min(5000, left));
      }
      beat();
    };
    const refresh = async (force = false) => {
      if (!force && Date.now() - readAt < ENDPOINT_REFRESH_MS) return endpoint;
      readAt = Date.now();
      endpoint = await table.getEndpoint(input.tenantId, input.endpointId);
      return endpoint;
    };
    const progress = (fields: { delivered?: number; givenUp?: number; successAt?: string; error?: string }) =>
      table.recordProgress(input.tenantId, input.endpointId, {
        // A replay never moves the live cursor; its counts and errors are the endpoint's all the same.
        ...(replay ? {} : { cursor }),
        delivered: fields.delivered ?? 0,
        givenUp: fields.givenUp ?? 0,
        successAt: fields.successAt,
        error: fields.error,
      });

    while (Date.now() - started < settings.runMs) {
      beat();
      const current = await refresh();
      if (!current) return { stop: 'deleted' };
      if (current.status !== 'enabled') return { cursor, stop: 'disabled' };
      const live = new Date(Date.now() - settings.lagMs).toISOString();
      const until = replay && replay.to < live ? replay.to : live;
      const entries = await table.readLog(input.tenantId, cursor, until, READ_PAGE);
      const { batch, last } = takeBatch(current, entries);
      if (batch.length === 0) {
        if (last) cursor = last;
        if (replay && until === replay.to && entries.length < READ_PAGE) return { cursor, stop: 'done' };
        if (entries.length < READ_PAGE) await pause(settings.windowMs);
        continue;
      }
      const outcome = await deliverBatch(
        current,
        batch,
        { pause, refresh, progress },
        replay?.requestedAt ? Date.parse(replay.requestedAt) : 0,
        replay?.replayId,
      );
      if (outcome === 'deleted') return { stop: 'deleted' };
      if (outcome === 'disabled') return { cursor, stop: 'disabled' };
      cursor = last!;
      beat();
      if (!replay) await progress({});
      // Caught up: collect for the window before the next POST.
      if (entries.length < READ_PAGE && batch.length < MAX_EVENTS_PER_POST) await pause(settings.windowMs);
    }
    // Past entries the endpoint did not want too, so GET shows an idle endpoint caught up.
    if (!replay) await progress({});
    return { cursor, stop: 'time' };
  }

  /** POSTs one batch until it is taken, or its events aged out, or the endpoint went away. */
  async function deliverBatch(
    endpoint: EventWebhookEndpoint,
    batch: LoggedEvent[],
    io: {
      pause: (ms: number) => Promise<void>;
      refresh: (force?: boolean) => Promise<EventWebhookEndpoint | undefined>;
      progress: (fields: { delivered?: number; givenUp?: number; successAt?: string; error?: string }) => Promise<boolean>;
    },
    /** A replay's: when it was asked for (its entries are no older than that for giving up). */
    replaySince = 0,
    /** A replay's id: its POSTs get webhook-ids of their own. */
    replayId?: string,
  ): Promise<'delivered' | 'given_up' | 'deleted' | 'disabled'> {
    let pending = batch;
    let target = endpoint;
    for (let failures = 0; ;) {
      const { deliver, givenUp } = splitByAge(pending, Date.now(), settings.maxAgeMs, replaySince);
      if (givenUp.length > 0) {
        deps.log.warn('event webhook events given up', {
          endpoint_id: target.endpoint_id,
          tenant_id: target.tenant_id,
          count: givenUp.length,
        });
        await io.progress({ givenUp: givenUp.length, error: `${givenUp.length} events older than the retry limit given up` });
      }
      if (deliver.length === 0) return 'given_up';
      pending = deliver;
      const { webhookId, body } = batchPayload(
        target.endpoint_id,
        pending.map((e) => e.event),
        replayId,
      );
      const attempt = await post(target, webhookId, body);
      if (attempt.ok) {
        await io.progress({ delivered: pending.length, successAt: new Date().toISOString() });
        return 'delivered';
      }
      failures++;
      await io.progress({ error: attempt.error });
      if (attempt.gone) {
        // 410 Gone: the receiver asks to stop; the endpoint is disabled (enable it to resume).
        await deps.eventWebhooks.updateEndpoint(target.tenant_id, target.endpoint_id, { status: 'disabled' });
        return 'disabled';
      }
      await io.pause(retryDelayMs(failures, settings.retryCapMs));
      const now = await io.refresh(true);
      if (!now) return 'deleted';
      if (now.status !== 'enabled') return 'disabled';
      target = now;
    }
  }

  return { deliverEvents };
}

/** The first events the endpoint wants (at most a POST's worth), and the cursor once they are delivered. */
export function takeBatch(endpoint: EventWebhookEndpoint, entries: LoggedEvent[]): { batch: LoggedEvent[]; last?: string } {
  const batch: LoggedEvent[] = [];
  let last: string | undefined;
  for (const entry of entries) {
    if (batch.length >= MAX_EVENTS_PER_POST) break;
    last = entry.sk;
    if (endpointWants(endpoint, entry.event)) batch.push(entry);
  }
  return { batch, last };
}

/** Signed with the current secret, and with the one before a rotation while its overlap lasts. */
function signatures(endpoint: EventWebhookEndpoint, id: string, timestamp: number, body: string): string {
  const secrets = [endpoint.secret];
  if (endpoint.previous_secret && endpoint.previous_secret_until && endpoint.previous_secret_until > new Date().toISOString()) {
    secrets.push(endpoint.previous_secret);
  }
  return secrets.map((s) => signWebhook(s, id, timestamp, body)).join(' ');
}
