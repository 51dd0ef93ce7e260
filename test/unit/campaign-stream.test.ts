// The pure parts of the campaign progress stream (api/routes/campaign-stream.ts): event ids,
// the one-event-a-second pace, the stream caps, and a client stream over a stand-in sink with
// fake timers (dedup, coalescing, heartbeat, the end at a terminal status, no timer left).
import { EventEmitter } from 'node:events';
import type { Router } from 'express';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ApiDeps } from '../../api/deps';
import {
  ClientStream,
  eventIdOf,
  formatEvent,
  HEARTBEAT,
  mountCampaignStream,
  openStreamSlots,
  sendDelay,
  StreamSlots,
  streamResources,
  type StreamView,
} from '../../api/routes/campaign-stream';
import { CAMPAIGN_SCOPE_OVERRIDES, scopeFor } from '../../api/scopes';
import type { TransactionRecord } from '../../src/adapters/dynamo/types';

const view = (status: StreamView['status'], sent: number, transitions = 2, extra: Record<string, unknown> = {}): StreamView =>
  ({
    status,
    counts: { sent, failed: 0, suppressed: 0 },
    status_history: Array.from({ length: transitions }, (_, i) => ({ status: `S${i}` })),
    estimated_completion: null,
    ...extra,
  }) as StreamView;

describe('eventIdOf', () => {
  it('is the same for the same state, whatever the estimate says', () => {
    const a = view('READY_TO_SEND', 10);
    const b = { ...view('READY_TO_SEND', 10), estimated_completion: '2030-01-01T00:00:00.000Z' };
    expect(eventIdOf(a)).toBe(eventIdOf(b));
  });

  it('changes with the counts, the status and any other field, and leads with status changes and the counts sum', () => {
    const base = view('READY_TO_SEND', 10);
    const ids = [base, view('READY_TO_SEND', 11), view('PAUSED', 10, 3), view('READY_TO_SEND', 10, 2, { held_reason: 'bounce rate' })].map(
      eventIdOf,
    );
    expect(new Set(ids).size).toBe(ids.length);
    expect(eventIdOf(base)).toMatch(/^2\.10\.[A-Za-z0-9_-]{12}$/);
    expect(eventIdOf(view('COMPLETED', 250, 5))).toMatch(/^5\.250\./);
  });
});

describe('sendDelay', () => {
  it('sends the first event at once and then no sooner than the interval after the last', () => {
    expect(sendDelay(5000, undefined)).toBe(0);
    expect(sendDelay(5000, 4500)).toBe(500);
    expect(sendDelay(5000, 4000)).toBe(0);
    expect(sendDelay(5000, 3000)).toBe(0);
    expect(sendDelay(5000, 4999, 250)).toBe(249);
  });
});

describe('formatEvent', () => {
  it('writes one SSE event with its id, its type and the view as one data line', () => {
    const text = formatEvent('2.10.x', { status: 'SENT', note: 'a\nb' });
    expect(text).toBe('id: 2.10.x\nevent: status\ndata: {"status":"SENT","note":"a\\nb"}\n\n');
  });
});

describe('StreamSlots', () => {
  it('caps each tenant and the process, and gives slots back on release', () => {
    const slots = new StreamSlots(2, 3);
    expect([slots.acquire('a'), slots.acquire('a'), slots.acquire('a')]).toEqual([true, true, false]);
    expect(slots.acquire('b')).toBe(true);
    expect(slots.acquire('c')).toBe(false); // the process is full
    slots.release('a');
    expect(slots.acquire('c')).toBe(true);
    expect(slots.acquire('a')).toBe(false);
    expect(slots.open).toBe(3);
    for (const t of ['a', 'b', 'c']) slots.release(t);
    expect(slots.open).toBe(0);
    expect(slots.acquire('a')).toBe(true);
  });
});

describe('ClientStream', () => {
  let written: { at: number; chunk: string }[];
  let ended: number;
  const sink = () => ({
    write: (chunk: string) => written.push({ at: Date.now(), chunk }),
    end: () => {
      ended += 1;
    },
  });
  const events = () => written.filter((w) => w.chunk.startsWith('id: '));
  const before = streamResources();

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    written = [];
    ended = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first state at once, drops repeats, and holds changes to one event a second (the latest wins)', () => {
    const stream = new ClientStream(sink(), { heartbeatMs: 15_000 });
    stream.offer(view('READY_TO_SEND', 1));
    stream.offer(view('READY_TO_SEND', 1));
    vi.advanceTimersByTime(200);
    stream.offer(view('READY_TO_SEND', 2));
    vi.advanceTimersByTime(200);
    stream.offer(view('READY_TO_SEND', 3));
    expect(events()).toHaveLength(1);
    vi.advanceTimersByTime(600);
    expect(events()).toHaveLength(2);
    expect(events()[1]!.chunk).toContain(`id: ${eventIdOf(view('READY_TO_SEND', 3))}`);
    expect(events()[1]!.at - events()[0]!.at).toBe(1000);
    vi.advanceTimersByTime(5000);
    expect(events()).toHaveLength(2);
    stream.end();
  });

  it('forgets a pending change that went back to what the client already has', () => {
    const stream = new ClientStream(sink(), { heartbeatMs: 15_000 });
    stream.offer(view('READY_TO_SEND', 1));
    stream.offer(view('READY_TO_SEND', 2));
    stream.offer(view('READY_TO_SEND', 1));
    vi.advanceTimersByTime(2000);
    expect(events()).toHaveLength(1);
    stream.end();
  });

  it('does not resend the state a reconnecting client names in Last-Event-ID, and sends a newer one at once', () => {
    const held = view('READY_TO_SEND', 40);
    const stream = new ClientStream(sink(), { heartbeatMs: 15_000, lastEventId: eventIdOf(held) });
    stream.offer(held);
    expect(events()).toHaveLength(0);
    stream.offer(view('READY_TO_SEND', 41));
    expect(events()).toHaveLength(1);
    stream.end();
  });

  it('writes a keep-alive comment every heartbeat interval', () => {
    const stream = new ClientStream(sink(), { heartbeatMs: 15_000 });
    vi.advanceTimersByTime(44_999);
    expect(written.filter((w) => w.chunk === HEARTBEAT)).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(written.filter((w) => w.chunk === HEARTBEAT).map((w) => w.at - 1_000_000)).toEqual([15_000, 30_000, 45_000]);
    stream.end();
  });

  it('ends after the event of a terminal status, even one held back by the pace, and leaves no timer', () => {
    const onEnd = vi.fn();
    const stream = new ClientStream(sink(), { heartbeatMs: 15_000, onEnd });
    stream.offer(view('SENT', 99, 4));
    stream.offer(view('COMPLETED', 100, 5));
    expect(ended).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(events().at(-1)!.chunk).toContain('"status":"COMPLETED"');
    expect([ended, onEnd.mock.calls.length, stream.ended]).toEqual([1, 1, true]);
    expect(streamResources()).toEqual(before);
    stream.offer(view('COMPLETED', 101, 5));
    vi.advanceTimersByTime(60_000);
    expect(events()).toHaveLength(2);
  });

  it('ends once when the client goes away, with a change pending, and leaves no timer', () => {
    const onEnd = vi.fn();
    const stream = new ClientStream(sink(), { heartbeatMs: 1000, onEnd });
    stream.offer(view('READY_TO_SEND', 1));
    stream.offer(view('READY_TO_SEND', 2));
    expect(streamResources().timers).toBe(before.timers + 2);
    expect(streamResources().streams).toBe(before.streams + 1);
    stream.end();
    stream.end();
    expect(onEnd).toHaveBeenCalledTimes(1);
    expect(streamResources()).toEqual(before);
    const count = written.length;
    vi.advanceTimersByTime(10_000);
    expect(written).toHaveLength(count);
  });
});

describe('ClientStream backpressure', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  const blockingSink = () => {
    const sink = {
      chunks: [] as string[],
      full: false,
      buffered: 0,
      ended: 0,
      write(chunk: string) {
        sink.chunks.push(chunk);
        if (sink.full) sink.buffered += chunk.length;
        return !sink.full;
      },
      end() {
        sink.ended += 1;
      },
    };
    return sink;
  };
  const before = streamResources();

  it('keeps only the latest state while the sink is full, and sends it on drain at the pace', () => {
    const sink = blockingSink();
    const stream = new ClientStream(sink, { heartbeatMs: 15_000 });
    sink.full = true;
    stream.offer(view('READY_TO_SEND', 1)); // written, and the buffer is now full
    for (let sent = 2; sent <= 50; sent += 1) {
      vi.advanceTimersByTime(1000);
      stream.offer(view('READY_TO_SEND', sent));
    }
    expect(sink.chunks).toHaveLength(1);
    sink.full = false;
    stream.drained();
    expect(sink.chunks).toHaveLength(2);
    expect(sink.chunks[1]).toContain(`id: ${eventIdOf(view('READY_TO_SEND', 50))}`);
    stream.drained(); // a second drain with nothing pending writes nothing
    stream.offer(view('READY_TO_SEND', 51)); // the pace holds after a drain too
    expect(sink.chunks).toHaveLength(2);
    vi.advanceTimersByTime(1000);
    expect(sink.chunks).toHaveLength(3);
    stream.end();
    expect(streamResources()).toEqual(before);
  });

  it('ends the stream when a write leaves more than the buffer limit unread', () => {
    const sink = blockingSink();
    const onEnd = vi.fn();
    const stream = new ClientStream(sink, { heartbeatMs: 15_000, maxBufferedBytes: 100, onEnd });
    sink.full = true;
    sink.buffered = 90;
    stream.offer(view('READY_TO_SEND', 1));
    expect([stream.ended, sink.ended, onEnd.mock.calls.length]).toEqual([true, 1, 1]);
    expect(streamResources()).toEqual(before);
  });

  it('ends at its lifetime', () => {
    const sink = blockingSink();
    const stream = new ClientStream(sink, { heartbeatMs: 15_000, maxLifetimeMs: 60_000 });
    vi.advanceTimersByTime(59_999);
    expect(stream.ended).toBe(false);
    vi.advanceTimersByTime(1);
    expect([stream.ended, sink.ended]).toEqual([true, 1]);
    expect(streamResources()).toEqual(before);
  });
});

describe('the stream route', () => {
  it('needs campaigns:read, as every read of a campaign', () => {
    expect(scopeFor({ method: 'GET', path: '/txn-1/stream' }, 'campaigns', CAMPAIGN_SCOPE_OVERRIDES)).toBe('campaigns:read');
  });
});

// The route over stand-ins of Express's request and response (the store read is a promise the
// test settles), so that a client leaving at any moment can be staged.
describe('the stream route, over a stand-in request and response', () => {
  type Handler = (req: unknown, res: unknown) => Promise<void>;
  const txn = (status: StreamView['status'], sent = 1) =>
    ({ transaction_id: 'txn-1', status, sent, status_history: [{ status: 'CREATED' }, { status }] }) as unknown as TransactionRecord;
  const viewOfTxn = vi.fn((t: TransactionRecord) => view(t.status, (t as unknown as { sent: number }).sent));
  let reads: TransactionRecord[];
  let deps: ApiDeps;
  let handler: Handler;

  function mount(config: Partial<ApiDeps['config']> = {}) {
    reads = [];
    let current = txn('READY_TO_SEND');
    deps = {
      config: { STREAMS_MAX_PER_TENANT: 5, STREAMS_MAX_PER_PROCESS: 10, STREAM_HEARTBEAT_SECONDS: 15, STREAM_MAX_SECONDS: 900, ...config },
      registry: new Registry(),
      store: {
        getTransaction: async () => {
          reads.push(current);
          return current;
        },
      },
      log: { child: () => ({ warn: () => {} }), warn: () => {} },
    } as unknown as ApiDeps;
    const router = { get: (_path: string, fn: Handler) => (handler = fn) } as unknown as Router;
    let pendingLoad: { resolve: (t: TransactionRecord) => void } | undefined;
    const loads: Promise<TransactionRecord>[] = [];
    mountCampaignStream(
      router,
      deps,
      () => {
        const p = new Promise<TransactionRecord>((resolve) => (pendingLoad = { resolve }));
        loads.push(p);
        return p;
      },
      viewOfTxn,
    );
    return {
      settleLoad: (t = current) => pendingLoad!.resolve(t),
      setCurrent: (t: TransactionRecord) => (current = t),
    };
  }

  class FakeRes extends EventEmitter {
    chunks: string[] = [];
    statusCode = 0;
    headersSent = false;
    writableEnded = false;
    destroyed = false;
    writableLength = 0;
    writeReturns = true;
    status(code: number) {
      this.statusCode = code;
      return this;
    }
    setHeader() {}
    getHeader() {
      return undefined;
    }
    flushHeaders() {
      this.headersSent = true;
    }
    json(body: unknown) {
      this.chunks.push(JSON.stringify(body));
      this.writableEnded = true;
    }
    write(chunk: string) {
      this.chunks.push(chunk);
      if (!this.writeReturns) this.writableLength += chunk.length;
      return this.writeReturns;
    }
    end() {
      this.writableEnded = true;
    }
    /** The client goes away: Node destroys the socket and the response, then emits 'close'. */
    leave() {
      this.destroyed = true;
      this.socket.destroyed = true;
      this.emit('close');
    }
    socket = { destroyed: false, setNoDelay: () => {} };
  }
  const request = (res: FakeRes, headers: Record<string, string> = {}) => ({
    auth: { tenantId: 'tenant-a' },
    params: { id: 'txn-1' },
    httpVersionMajor: 1,
    socket: res.socket,
    header: (name: string) => headers[name.toLowerCase()],
  });
  const before = streamResources();

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    viewOfTxn.mockClear();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds no slot, stream or timer when the client leaves while the campaign is being read', async () => {
    const { settleLoad } = mount();
    const res = new FakeRes();
    const done = handler(request(res), res);
    res.leave(); // during `await load(req)`
    settleLoad();
    await done;
    expect(openStreamSlots(deps)).toBe(0);
    expect(streamResources()).toEqual(before);
    await vi.advanceTimersByTimeAsync(5000);
    expect(reads).toHaveLength(0); // no poll started
    expect(res.chunks).toEqual([]);
  });

  it('notices a close during the read even when nothing is marked destroyed yet', async () => {
    const { settleLoad } = mount();
    const res = new FakeRes();
    const done = handler(request(res), res);
    res.emit('close');
    settleLoad();
    await done;
    expect([openStreamSlots(deps), res.headersSent]).toEqual([0, false]);
    expect(streamResources()).toEqual(before);
  });

  it('ends a stream cleanly at STREAM_MAX_SECONDS, giving back its slot, poll and timers', async () => {
    const { settleLoad } = mount({ STREAM_MAX_SECONDS: 30 });
    const res = new FakeRes();
    const done = handler(request(res), res);
    settleLoad();
    await done;
    await vi.advanceTimersByTimeAsync(29_999);
    expect([res.writableEnded, openStreamSlots(deps)]).toEqual([false, 1]);
    expect(res.chunks.filter((c) => c === HEARTBEAT)).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect([res.writableEnded, openStreamSlots(deps)]).toEqual([true, 0]);
    expect(streamResources()).toEqual(before);
    const polls = reads.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reads).toHaveLength(polls);
  });

  it('builds the view and its event once per read of the store, however many streams share it', async () => {
    const { settleLoad, setCurrent } = mount();
    const responses = [new FakeRes(), new FakeRes(), new FakeRes()];
    for (const res of responses) {
      const done = handler(request(res), res);
      settleLoad();
      await done;
    }
    viewOfTxn.mockClear();
    setCurrent(txn('READY_TO_SEND', 7));
    await vi.advanceTimersByTimeAsync(1000);
    expect(reads).toHaveLength(1); // one poll for the three streams
    expect(viewOfTxn).toHaveBeenCalledTimes(1);
    const lastEvents = responses.map((res) => res.chunks.filter((c) => c.startsWith('id: ')).at(-1));
    expect(new Set(lastEvents).size).toBe(1);
    expect(lastEvents[0]).toContain(`id: ${eventIdOf(view('READY_TO_SEND', 7))}`);
    for (const res of responses) res.leave();
    expect([openStreamSlots(deps), streamResources()]).toEqual([0, before]);
  });

  it('writes nothing while the response is full, then the latest state on drain', async () => {
    const { settleLoad, setCurrent } = mount();
    const res = new FakeRes();
    res.writeReturns = false; // the first event fills the buffer
    const done = handler(request(res), res);
    settleLoad();
    await done;
    expect(res.chunks).toHaveLength(1);
    for (const sent of [2, 3, 4]) {
      setCurrent(txn('READY_TO_SEND', sent));
      await vi.advanceTimersByTimeAsync(1000);
    }
    await vi.advanceTimersByTimeAsync(30_000); // nor keep-alives
    expect(res.chunks).toHaveLength(1);
    res.writeReturns = true;
    res.writableLength = 0;
    res.emit('drain');
    expect(res.chunks).toHaveLength(2);
    expect(res.chunks[1]).toContain(`id: ${eventIdOf(view('READY_TO_SEND', 4))}`);
    res.leave();
    expect(streamResources()).toEqual(before);
  });

  it('gives the slot back when the client leaves an open stream', async () => {
    const { settleLoad } = mount();
    const res = new FakeRes();
    const done = handler(request(res), res);
    settleLoad();
    await done;
    expect(openStreamSlots(deps)).toBe(1);
    expect(res.chunks.filter((c) => c.startsWith('id: '))).toHaveLength(1);
    res.leave();
    expect(openStreamSlots(deps)).toBe(0);
    expect(streamResources()).toEqual(before);
  });
});
