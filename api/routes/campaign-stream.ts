// GET /campaigns/{id}/stream (issue 16, item 7): a campaign's status view (the one GET …/status
// answers) as Server-Sent Events, for a UI's progress bar. One poll of the store per campaign and
// second, shared by every stream of that campaign in this process; each stream sends only what
// changed, at most one event a second, a `: keep-alive` comment every STREAM_HEARTBEAT_SECONDS,
// and ends after the event of a terminal status. The event's `id:` names the state, so a client
// reconnecting with Last-Event-ID gets the current state at once only when it differs; one that
// already holds a terminal state gets 204, which tells an EventSource to stop reconnecting.
// At most STREAMS_MAX_PER_TENANT streams per tenant and STREAMS_MAX_PER_PROCESS in all; a stream
// lasts at most STREAM_MAX_SECONDS (then it ends, and an EventSource reconnects with Last-Event-ID).
// A client that does not read is sent nothing more until its buffer drains (it gets the latest
// state then), and a stream whose unread output passes MAX_BUFFERED_BYTES ends.
import { createHash } from 'node:crypto';
import type { Request, Response, Router } from 'express';
import { Gauge } from 'prom-client';
import { isFinalTransactionStatus, type TransactionStatus } from '../../src/domain/transaction-status';
import type { TransactionRecord } from '../../src/adapters/dynamo/types';
import type { Logger } from '../../src/logging';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { sendError } from '../errors';

/** The least time between two events of one stream. */
export const MIN_EVENT_INTERVAL_MS = 1000;
/** The least time between two reads of one campaign (shared by its streams). */
export const POLL_INTERVAL_MS = 1000;
/** What a client refused for the stream cap is told to wait. */
const RETRY_AFTER_SECONDS = 5;
/** Unread output past which a stream ends (its client is not reading). */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

/** The fields of a status view the stream looks at (the view is sent whole). */
export interface StreamView {
  status: TransactionStatus;
  counts: Record<string, number>;
  status_history: unknown[];
  estimated_completion: string | null;
}

/**
 * The event id of a view: `<status changes>.<sum of the counts>.<digest>`. The first two only
 * grow while a campaign runs (a reader can tell an older state); the digest of the view (less
 * its estimate, which moves on every read) tells apart states they do not.
 */
export function eventIdOf(view: StreamView): string {
  const { estimated_completion: _estimate, ...stable } = view;
  const digest = createHash('sha256').update(JSON.stringify(stable)).digest('base64url').slice(0, 12);
  const sum = Object.values(view.counts).reduce((a, b) => a + b, 0);
  return `${view.status_history.length}.${sum}.${digest}`;
}

/** Milliseconds until a stream that last sent at `lastSentAt` may send again (0: now). */
export function sendDelay(now: number, lastSentAt: number | undefined, minIntervalMs = MIN_EVENT_INTERVAL_MS): number {
  return lastSentAt === undefined ? 0 : Math.max(0, lastSentAt + minIntervalMs - now);
}

export function formatEvent(id: string, view: unknown): string {
  return `id: ${id}\nevent: status\ndata: ${JSON.stringify(view)}\n\n`;
}

export const HEARTBEAT = ': keep-alive\n\n';

/** One state read from the store, its event id and its event text computed once for all its streams. */
export class StreamState<V extends StreamView = StreamView> {
  private text: string | undefined;
  constructor(
    readonly view: V,
    readonly id: string = eventIdOf(view),
  ) {}

  get event(): string {
    return (this.text ??= formatEvent(this.id, this.view));
  }
}

// Every timer the streams hold, so that a test can see none outlives its stream.
const liveTimers = new Set<NodeJS.Timeout>();
let openStreamCount = 0;
function later(fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    liveTimers.delete(timer);
    fn();
  }, ms).unref();
  liveTimers.add(timer);
  return timer;
}
function cancel(timer: NodeJS.Timeout | undefined): undefined {
  if (timer) {
    clearTimeout(timer);
    liveTimers.delete(timer);
  }
  return undefined;
}
/** Streams open and timers pending across this process (for tests and the gauge). */
export const streamResources = () => ({ streams: openStreamCount, timers: liveTimers.size });

/** The per-tenant and per-process stream caps. */
export class StreamSlots {
  private readonly byTenant = new Map<string, number>();
  private total = 0;
  constructor(
    private readonly perTenant: number,
    private readonly perProcess: number,
  ) {}

  acquire(tenantId: string): boolean {
    const held = this.byTenant.get(tenantId) ?? 0;
    if (held >= this.perTenant || this.total >= this.perProcess) return false;
    this.byTenant.set(tenantId, held + 1);
    this.total += 1;
    return true;
  }

  release(tenantId: string): void {
    const held = this.byTenant.get(tenantId) ?? 0;
    if (held <= 1) this.byTenant.delete(tenantId);
    else this.byTenant.set(tenantId, held - 1);
    this.total = Math.max(0, this.total - 1);
  }

  get open(): number {
    return this.total;
  }
}

/** Where a stream writes: an Express response, or a stand-in in unit tests. */
export interface StreamSink {
  /** `false`: the client's buffer is full; nothing more is written until `ClientStream.drained()`. */
  write(chunk: string): unknown;
  end(): unknown;
  /** Bytes written and not yet taken by the client (a response's writableLength). */
  readonly buffered?: number;
}

interface ClientStreamOptions {
  heartbeatMs: number;
  minIntervalMs?: number;
  lastEventId?: string;
  /** The stream ends this long after it opened (none: when its client or its campaign ends). */
  maxLifetimeMs?: number;
  /** Unread output past which the stream ends (default MAX_BUFFERED_BYTES). */
  maxBufferedBytes?: number;
  onEnd?: () => void;
}

/**
 * One client's stream: dedup by event id, the one-a-second pace, the heartbeat, the end at a
 * terminal status or past its lifetime, and backpressure (a full client buffer holds only the
 * latest state until it drains).
 */
export class ClientStream<V extends StreamView = StreamView> {
  private lastId: string | undefined;
  private lastSentAt: number | undefined;
  private pending: StreamState<V> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lifetimeTimer: NodeJS.Timeout | undefined;
  private blocked = false;
  private closed = false;

  constructor(
    private readonly sink: StreamSink,
    private readonly opts: ClientStreamOptions,
  ) {
    this.lastId = opts.lastEventId;
    openStreamCount += 1;
    this.beat();
    if (opts.maxLifetimeMs !== undefined) this.lifetimeTimer = later(() => this.end(), opts.maxLifetimeMs);
  }

  get ended(): boolean {
    return this.closed;
  }

  /** A view read from the store: sent now, later (the pace or a full buffer), or not at all (nothing changed). */
  offer(state: V | StreamState<V>): void {
    if (this.closed) return;
    const next = state instanceof StreamState ? state : new StreamState(state);
    if (next.id === this.lastId) {
      this.pending = undefined;
      return;
    }
    this.pending = next;
    this.schedule();
  }

  /** The client took in what was buffered (a response's 'drain'): the latest pending state may go. */
  drained(): void {
    if (this.closed || !this.blocked) return;
    this.blocked = false;
    if (this.pending) this.schedule();
  }

  /** Ends the stream (idempotent): the client went away, the campaign is gone, or it ended. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.flushTimer = cancel(this.flushTimer);
    this.heartbeatTimer = cancel(this.heartbeatTimer);
    this.lifetimeTimer = cancel(this.lifetimeTimer);
    openStreamCount -= 1;
    this.sink.end();
    this.opts.onEnd?.();
  }

  private schedule(): void {
    if (this.blocked) return; // drained() sends the latest
    const delay = sendDelay(Date.now(), this.lastSentAt, this.opts.minIntervalMs);
    if (delay === 0) this.flush();
    else this.flushTimer ??= later(() => this.flush(), delay);
  }

  private flush(): void {
    this.flushTimer = cancel(this.flushTimer);
    const next = this.pending;
    if (this.closed || this.blocked || !next) return;
    this.pending = undefined;
    this.send(next.event);
    this.lastId = next.id;
    this.lastSentAt = Date.now();
    if (isFinalTransactionStatus(next.view.status)) this.end();
  }

  /** Writes a chunk; a full buffer blocks the stream until drained(), one past the limit ends it. */
  private send(chunk: string): void {
    if (this.sink.write(chunk) !== false) return;
    this.blocked = true;
    if ((this.sink.buffered ?? 0) > (this.opts.maxBufferedBytes ?? MAX_BUFFERED_BYTES)) this.end();
  }

  private beat(): void {
    this.heartbeatTimer = later(() => {
      if (this.closed) return;
      // A client whose buffer is full has not taken in the last write: no keep-alive is needed.
      if (!this.blocked) this.send(HEARTBEAT);
      if (!this.closed) this.beat();
    }, this.opts.heartbeatMs);
  }
}

/** A campaign's state read at a tick (undefined: it is gone). */
type Listener<V extends StreamView> = (state: StreamState<V> | undefined) => void;

/** One campaign's poll, shared by its streams; it stops when the last one leaves. */
class CampaignWatch<V extends StreamView> {
  private readonly listeners = new Set<Listener<V>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly read: () => Promise<TransactionRecord | undefined>,
    private readonly viewOf: (txn: TransactionRecord) => V,
    private readonly onIdle: () => void,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  add(listener: Listener<V>): void {
    this.listeners.add(listener);
    this.timer ??= later(() => void this.tick(), POLL_INTERVAL_MS);
  }

  remove(listener: Listener<V>): void {
    this.listeners.delete(listener);
    if (this.listeners.size > 0) return;
    this.timer = cancel(this.timer);
    this.onIdle();
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    try {
      const txn = await this.read();
      // The view, its id and its event text once per read, whatever the number of streams.
      const state = txn === undefined ? undefined : new StreamState(this.viewOf(txn));
      for (const listener of [...this.listeners]) listener(state);
    } catch (error) {
      // A failed read is retried at the next tick; the streams stay open.
      this.log.warn('campaign stream read failed', { error: (error as Error).message });
    }
    if (this.listeners.size > 0) this.timer ??= later(() => void this.tick(), POLL_INTERVAL_MS);
  }
}

interface StreamHub {
  slots: StreamSlots;
}
// One hub per app (the router is mounted under /campaigns and /transactions).
const STREAMS_GAUGE = 'api_campaign_streams_open';
const hubs = new WeakMap<ApiDeps, StreamHub>();
function hubOf(deps: ApiDeps): StreamHub {
  let hub = hubs.get(deps);
  if (!hub) {
    const made: StreamHub = {
      slots: new StreamSlots(deps.config.STREAMS_MAX_PER_TENANT, deps.config.STREAMS_MAX_PER_PROCESS),
    };
    // Once per registry (apps built in tests may share one): the process's count.
    if (!deps.registry.getSingleMetric(STREAMS_GAUGE)) {
      new Gauge({
        name: STREAMS_GAUGE,
        help: 'Campaign progress streams (Server-Sent Events) open in this process',
        registers: [deps.registry],
        collect() {
          this.set(openStreamCount);
        },
      });
    }
    hubs.set(deps, made);
    hub = made;
  }
  return hub;
}

/** Stream slots held in the app built on `deps` (for tests). */
export const openStreamSlots = (deps: ApiDeps): number => hubs.get(deps)?.slots.open ?? 0;

/** Mounts GET /:id/stream on a campaign router; `load` is its tenant-scoped read (404 for another tenant's id). */
export function mountCampaignStream<V extends StreamView>(
  router: Router,
  deps: ApiDeps,
  load: (req: Request<{ id: string }>) => Promise<TransactionRecord>,
  viewOf: (txn: TransactionRecord) => V,
): void {
  const hub = hubOf(deps);
  // This mount's polls (one per campaign): their streams share its view.
  const watches = new Map<string, CampaignWatch<V>>();
  const heartbeatMs = deps.config.STREAM_HEARTBEAT_SECONDS * 1000;
  const maxLifetimeMs = deps.config.STREAM_MAX_SECONDS * 1000;
  router.get('/:id/stream', async (req, res) => {
    // The client may leave while the campaign is read, before a stream listens for 'close':
    // it must then hold no slot, poll or timer.
    let left = false;
    const onLeave = () => {
      left = true;
    };
    res.once('close', onLeave);
    let txn: TransactionRecord;
    try {
      txn = await load(req);
    } finally {
      res.off('close', onLeave);
    }
    if (left || res.destroyed || req.socket.destroyed) return;
    const tenantId = tenantOf(req);
    const lastEventId = req.header('last-event-id');
    const first = new StreamState(viewOf(txn));
    // The client holds the campaign's last state already: nothing more will come.
    if (isFinalTransactionStatus(txn.status) && lastEventId === first.id) {
      res.status(204).end();
      return;
    }
    if (!hub.slots.acquire(tenantId)) {
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      sendError(res, 429, 'TOO_MANY_STREAMS', 'Too many progress streams are open for this tenant or on this server.', {
        limit: deps.config.STREAMS_MAX_PER_TENANT,
      });
      return;
    }
    startStream(req, res, { hub, watches, tenantId, txn, first, lastEventId, heartbeatMs, maxLifetimeMs, deps, viewOf });
  });
}

function startStream<V extends StreamView>(
  req: Request,
  res: Response,
  ctx: {
    hub: StreamHub;
    watches: Map<string, CampaignWatch<V>>;
    tenantId: string;
    txn: TransactionRecord;
    first: StreamState<V>;
    lastEventId: string | undefined;
    heartbeatMs: number;
    maxLifetimeMs: number;
    deps: ApiDeps;
    viewOf: (txn: TransactionRecord) => V;
  },
): void {
  const { hub, watches, tenantId, txn, deps } = ctx;
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  // No cache or proxy may hold the events back (nginx buffers unless told not to).
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  if (req.httpVersionMajor === 1) res.setHeader('Connection', 'keep-alive');
  res.flushHeaders();
  req.socket.setNoDelay(true);

  const key = `${tenantId}/${txn.transaction_id}`;
  let watch = watches.get(key);
  if (!watch) {
    const made = new CampaignWatch(
      () => deps.store.getTransaction(tenantId, txn.transaction_id),
      ctx.viewOf,
      () => {
        if (watches.get(key) === made) watches.delete(key);
      },
      deps.log.child({ transaction_id: txn.transaction_id }),
    );
    watches.set(key, made);
    watch = made;
  }
  const listener: Listener<V> = (current) => {
    if (current === undefined) stream.end();
    else stream.offer(current);
  };
  const stream = new ClientStream<V>(
    {
      write: (chunk) => !res.writableEnded && !res.destroyed && res.write(chunk),
      end: () => !res.writableEnded && res.end(),
      get buffered() {
        return res.writableLength;
      },
    },
    {
      heartbeatMs: ctx.heartbeatMs,
      lastEventId: ctx.lastEventId,
      maxLifetimeMs: ctx.maxLifetimeMs,
      onEnd: () => {
        watch.remove(listener);
        hub.slots.release(tenantId);
      },
    },
  );
  res.on('close', () => stream.end());
  res.on('drain', () => stream.drained());
  stream.offer(ctx.first);
  if (!stream.ended) watch.add(listener);
}
