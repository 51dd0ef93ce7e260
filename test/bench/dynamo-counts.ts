// The DynamoDB request log's arithmetic, for `npm run bench` (issue 18): each engine process
// appends a line of running totals every REQUEST_LOG_FLUSH_MS (see src/adapters/aws.ts); these
// functions read the totals at any moment from those lines, take differences between moments
// (a campaign phase) and sum processes. Pure, so test/unit/bench-counts.test.ts checks it.
import type { RequestLogSummary } from '../../src/adapters/dynamo-request-log';

/** Totals at one moment (or over a window, once subtracted). */
export interface Counts {
  requests: Record<string, number>;
  errors: Record<string, number>;
  items_written: number;
  writes_by_kind: Record<string, number>;
  /**
   * Writes per `PK|SK`, for the most written keys only (each line names its top keys), so a key
   * outside a line's list is estimated: see `keysAt`.
   */
  keys: Record<string, number>;
}

export const emptyCounts = (): Counts => ({ requests: {}, errors: {}, items_written: 0, writes_by_kind: {}, keys: {} });

/** The lines of one process's log; a line being written as it is read is left out. */
export function parseLog(text: string): RequestLogSummary[] {
  const lines: RequestLogSummary[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line) as RequestLogSummary);
    } catch {
      // The last line, half appended.
    }
  }
  return lines.sort((a, b) => a.at - b.at);
}

const mix = (a: Record<string, number>, b: Record<string, number>, f: number) =>
  Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (a[k] ?? 0) + ((b[k] ?? 0) - (a[k] ?? 0)) * f]));

/** A line's top keys, and what a key missing from it had at most (0 when the list names every key). */
function topOf(line: RequestLogSummary | undefined) {
  const keys = new Map(line?.top_keys ?? []);
  const truncated = line !== undefined && line.top_keys.length < line.distinct_keys_written;
  const ceiling = truncated ? Math.min(...line.top_keys.map((t) => t[1])) : 0;
  return { keys, ceiling };
}

/**
 * Per key between two lines, `f` of the way from `a` to `b`. A key in only one of them: missing
 * from the earlier it had at most the earlier's smallest listed count (and no more than the
 * later has), missing from the later it had what the earlier says (counts only grow).
 */
function keysBetween(a: RequestLogSummary | undefined, b: RequestLogSummary, f: number): Record<string, number> {
  const from = topOf(a);
  const to = topOf(b);
  const out: Record<string, number> = {};
  for (const key of new Set([...from.keys.keys(), ...to.keys.keys()])) {
    const later = to.keys.get(key);
    const earlier = from.keys.get(key) ?? Math.min(from.ceiling, later ?? from.ceiling);
    out[key] = earlier + ((later ?? earlier) - earlier) * f;
  }
  return out;
}

function countsOf(line: RequestLogSummary): Counts {
  return {
    requests: { ...line.requests },
    errors: { ...line.errors },
    items_written: line.items_written,
    writes_by_kind: { ...line.writes_by_kind },
    keys: Object.fromEntries(line.top_keys),
  };
}

/**
 * One process's totals at `t` (epoch ms). A line is written only when something changed since
 * the previous flush, so between two lines further apart than `flushMs` nothing happened until
 * `flushMs` before the later one; within that last stretch the totals are taken to grow evenly.
 * Before the first line the totals are zero; after the last, the last line's (the caller waits a
 * flush past `t` before reading).
 */
export function countsAt(lines: RequestLogSummary[], t: number, flushMs: number): Counts {
  const after = lines.findIndex((l) => l.at > t);
  if (after === -1) return lines.length ? countsOf(lines.at(-1)!) : emptyCounts();
  const next = lines[after]!;
  const prev = after > 0 ? lines[after - 1] : undefined;
  const start = Math.max(prev?.at ?? -Infinity, next.at - flushMs);
  const base = prev ? countsOf(prev) : emptyCounts();
  if (t <= start) return base;
  const f = (t - start) / (next.at - start);
  const target = countsOf(next);
  return {
    requests: mix(base.requests, target.requests, f),
    errors: mix(base.errors, target.errors, f),
    items_written: base.items_written + (target.items_written - base.items_written) * f,
    writes_by_kind: mix(base.writes_by_kind, target.writes_by_kind, f),
    keys: keysBetween(prev, next, f),
  };
}

const combine = (a: Record<string, number>, b: Record<string, number>, sign: 1 | -1) =>
  Object.fromEntries([...new Set([...Object.keys(a), ...Object.keys(b)])].map((k) => [k, (a[k] ?? 0) + sign * (b[k] ?? 0)]));

/** Two processes' totals together: the same key written by both counts once with both writes. */
export function addCounts(a: Counts, b: Counts): Counts {
  return {
    requests: combine(a.requests, b.requests, 1),
    errors: combine(a.errors, b.errors, 1),
    items_written: a.items_written + b.items_written,
    writes_by_kind: combine(a.writes_by_kind, b.writes_by_kind, 1),
    keys: combine(a.keys, b.keys, 1),
  };
}

/**
 * What happened between two moments. A key the earlier moment does not list counts from zero
 * (an upper bound: it may have been just below that moment's top keys).
 */
export function subtractCounts(later: Counts, earlier: Counts): Counts {
  const keys = Object.fromEntries(
    Object.entries(later.keys)
      .map(([k, v]) => [k, Math.max(0, v - (earlier.keys[k] ?? 0))] as const)
      .filter(([, v]) => v > 0),
  );
  return {
    requests: combine(later.requests, earlier.requests, -1),
    errors: combine(later.errors, earlier.errors, -1),
    items_written: later.items_written - earlier.items_written,
    writes_by_kind: combine(later.writes_by_kind, earlier.writes_by_kind, -1),
    keys,
  };
}

export const totalRequests = (c: Counts) => Object.values(c.requests).reduce((sum, n) => sum + n, 0);

/** A key's kind for the report: its PK up to the first '#' (TRANSACTION, BATCH, TENANT…). */
export const kindOfKey = (key: string) => key.split('#', 1)[0]!.split('|', 1)[0]!;

/** The most written keys, most first (those a window wrote at least once). */
export function hottestKeys(c: Counts, count = 1): { key: string; kind: string; writes: number }[] {
  return Object.entries(c.keys)
    .filter(([, writes]) => Math.round(writes) > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, writes]) => ({ key, kind: kindOfKey(key), writes: Math.round(writes) }));
}

/** Three decimals, or three significant digits below 1 (a few requests among many messages still show). */
export const ratio = (n: number, by: number) => {
  const r = n / by;
  return Number(Math.abs(r) >= 1 ? r.toFixed(3) : r.toPrecision(3));
};

/** Each count divided by `by`, most first; counts below one (interpolation's crumbs) left out. */
export function per(record: Record<string, number>, by: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record)
      .filter(([, v]) => Math.round(v) > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, ratio(v, by)]),
  );
}
