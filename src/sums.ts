// Counts written as sums (issue 18, items 2 and 3): what a process adds to the same key within
// `flushMs` (0: no sums) goes out as one write of the total, so an item takes at most one write per `flushMs`
// per process, at any event rate, and a burst of events costs one request instead of one each.
// For counts whose loss with a crashed process costs only time or a little precision (each user
// says which); never for the counters that must be exact (those move with their message).
export class Sums<T> {
  private readonly pending = new Map<string, { item: T; n: number; timer: NodeJS.Timeout; written: Deferred }>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Sums written so far (the bench and tests read it). */
  writes = 0;

  constructor(
    private readonly flushMs: number,
    /** Writes `n` for `item` (the first item added under the key since the last write). */
    private readonly write: (item: T, n: number) => Promise<void>,
  ) {}

  /** Adds one under `key`; resolves once the sum that holds it is written, rejects if that write fails. */
  add(key: string, item: T): Promise<void> {
    // 0: no sums, each add its own write (as before sums).
    if (this.flushMs <= 0) return this.track(this.write(item, 1).then(() => void (this.writes += 1)));
    const entry = this.pending.get(key);
    if (entry) {
      entry.n += 1;
      return entry.written.promise;
    }
    const written = deferred();
    this.pending.set(key, { item, n: 1, timer: setTimeout(() => this.flush(key), this.flushMs), written });
    return written.promise;
  }

  /** What is added under `key` and not yet written (0: nothing waits). */
  pendingOf(key: string): number {
    return this.pending.get(key)?.n ?? 0;
  }

  /** Writes the sum waiting under `key` now instead of at its time (nothing if none waits). */
  flush(key: string): void {
    const entry = this.pending.get(key);
    if (!entry) return;
    this.pending.delete(key);
    clearTimeout(entry.timer);
    void this.track(this.write(entry.item, entry.n).then(() => void (this.writes += 1))).then(
      () => entry.written.resolve(),
      (error: unknown) => entry.written.reject(error),
    );
  }

  /** Keeps the write for `close` to wait on (settled either way); answers the write itself. */
  private track(writing: Promise<void>): Promise<void> {
    const settled: Promise<void> = writing.then(
      () => undefined,
      () => undefined,
    );
    const tracked = settled.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return writing;
  }

  /** Writes every sum still waiting and waits for the writes under way (at the process's stop). */
  async close(): Promise<void> {
    for (const key of [...this.pending.keys()]) this.flush(key);
    await Promise.all([...this.inFlight]);
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A caller that ignores the answer must not leave an unhandled rejection behind.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
