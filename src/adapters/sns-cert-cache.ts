// The SNS verifier's signing certificates, by canonical URL. Anyone can post a message naming a
// certificate URL, so downloads are bounded however many URLs arrive: a certificate is fetched
// once (concurrent verifications share the download), a failure is remembered for a while (a
// URL that failed is not fetched again at once), both caches are capped (junk URLs fill only
// the failure cache, never evict a good certificate), and a download needs a token from the
// source's own bucket (the address that posted the message) and then one from a bucket shared
// by all. The source's bucket comes first so that junk from one address spends that address's
// share only: Amazon has a handful of certificates in use, so a genuine source needs one
// download now and then, and the shared bucket is left for the others. IPv6 addresses count by
// their /64, the block one host is usually handed.
import { isIP } from 'node:net';

export interface CertCacheOptions {
  /** Downloads one certificate; a rejection is cached as a failure. */
  load: (url: string) => Promise<string>;
  /**
   * The error a download refused by a rate limit rejects with (not cached: the next one may
   * pass): `source` when the source used up its own share, `overall` when the shared one is.
   */
  throttled: (url: string, retryAfterMs: number, limit: 'source' | 'overall') => Error;
  /** Certificates kept, least recently used dropped first. Default 32. */
  size?: number;
  /** Failed URLs remembered. Default 256. */
  failureSize?: number;
  /** How long a certificate is kept. Default a day (Amazon names a new certificate by a new URL). */
  ttlMs?: number;
  /**
   * How long a failure is remembered. Default 15 s: below SNS's default 20 s between retries, so a
   * genuine message whose certificate download failed once succeeds on SNS's next attempt.
   */
  failureTtlMs?: number;
  /** Downloads allowed at once before the rate applies. Default 5. */
  burst?: number;
  /** Downloads allowed per minute past the burst. Default 6. */
  perMinute?: number;
  /** Each source's own limit, taken before the shared one. */
  perSource?: PerSourceLimit;
  now?: () => number;
}

export interface PerSourceLimit {
  /** Downloads one source may start at once. Default 2 (a download and one retry). */
  burst?: number;
  /** Downloads per minute past the burst, a fraction allowed. Default 0.2 (one each 5 minutes). */
  perMinute?: number;
  /** Sources remembered, least recently seen dropped first (it then starts afresh). Default 10,000. */
  sources?: number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

/** A Map used as an LRU with per-entry expiry: iteration order is insertion order. */
class ExpiringLru<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly size: number,
    private readonly now: () => number,
  ) {}

  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
    while (this.entries.size > this.size) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get count(): number {
    return this.entries.size;
  }
}

/** Tokens refill continuously at `perMinute`, up to `burst`. */
class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly burst: number,
    private readonly perMinute: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.refilledAt = now();
  }

  /** Takes a token; otherwise says how long until one is there. */
  take(): { ok: true } | { ok: false; retryAfterMs: number } {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.perMinute) / 60_000);
    this.refilledAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute) };
  }

  /** Returns a token taken for a download that did not start after all. */
  giveBack(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** How long an untouched bucket takes to fill up: after that it is as good as a new one. */
  get fullAfterMs(): number {
    return Math.ceil((this.burst * 60_000) / this.perMinute);
  }
}

/** One token bucket per source, forgotten once full again (or when too many sources are about). */
class SourceBuckets {
  private readonly buckets: ExpiringLru<TokenBucket>;
  private readonly burst: number;
  private readonly perMinute: number;

  constructor(
    limit: PerSourceLimit,
    private readonly now: () => number,
  ) {
    this.burst = Math.max(1, limit.burst ?? 2);
    this.perMinute = limit.perMinute !== undefined && limit.perMinute > 0 ? limit.perMinute : 0.2;
    this.buckets = new ExpiringLru(Math.max(1, limit.sources ?? 10_000), now);
  }

  /** The source's bucket, kept until it would be full again: an expired one is replaced by a full one. */
  of(source: string): TokenBucket {
    const bucket = this.buckets.get(source) ?? new TokenBucket(this.burst, this.perMinute, this.now);
    this.buckets.set(source, bucket, bucket.fullAfterMs);
    return bucket;
  }
}

/**
 * Whom a download is charged to: the address, an IPv4-mapped IPv6 address as its IPv4 one,
 * other IPv6 addresses by their /64 (a host picks freely inside it). No address is one source.
 */
export function downloadSource(address: string | undefined): string {
  if (!address) return 'unknown';
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (isIP(bare) !== 6) return bare;
  return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of a valid IPv6 address, "::" filled in (a trailing dotted IPv4 counts as two groups). */
function ipv6Groups(address: string): string[] {
  const part = (text: string | undefined) => (text ? text.split(':') : []);
  const width = (groups: string[]) => groups.length + (groups.at(-1)?.includes('.') ? 1 : 0);
  const [head, tail] = address.split('::');
  const before = part(head);
  const after = part(tail);
  const filled = tail === undefined ? before : [...before, ...Array<string>(8 - width(before) - width(after)).fill('0'), ...after];
  return filled.map((group) => (group.includes('.') ? group : parseInt(group, 16).toString(16)));
}

export class CertCache {
  private readonly certs: ExpiringLru<string>;
  private readonly failures: ExpiringLru<Error>;
  private readonly pending = new Map<string, Promise<string>>();
  private readonly bucket: TokenBucket;
  private readonly sources: SourceBuckets;
  private readonly ttlMs: number;
  private readonly failureTtlMs: number;
  private started = 0;

  constructor(private readonly opts: CertCacheOptions) {
    const now = opts.now ?? Date.now;
    this.certs = new ExpiringLru(Math.max(1, opts.size ?? 32), now);
    this.failures = new ExpiringLru(Math.max(1, opts.failureSize ?? 256), now);
    this.bucket = new TokenBucket(Math.max(1, opts.burst ?? 5), Math.max(1, opts.perMinute ?? 6), now);
    this.sources = new SourceBuckets(opts.perSource ?? {}, now);
    this.ttlMs = opts.ttlMs ?? 24 * 3600_000;
    this.failureTtlMs = opts.failureTtlMs ?? 15_000;
  }

  /**
   * The certificate at `url` (a canonical URL: the caller normalises it), cached, the download
   * shared, or the cached failure; or throttled when a new download would pass the limit of
   * `source` (the address asking, see downloadSource) or the shared one.
   */
  get(url: string, source?: string): Promise<string> {
    const cert = this.certs.get(url);
    if (cert !== undefined) return Promise.resolve(cert);
    const failure = this.failures.get(url);
    if (failure) return Promise.reject(failure);
    const pending = this.pending.get(url);
    if (pending) return pending;
    const own = this.sources.of(downloadSource(source));
    const mine = own.take();
    if (!mine.ok) return Promise.reject(this.opts.throttled(url, mine.retryAfterMs, 'source'));
    const shared = this.bucket.take();
    if (!shared.ok) {
      // Not this source's doing: its own share stays for when the shared bucket refills.
      own.giveBack();
      return Promise.reject(this.opts.throttled(url, shared.retryAfterMs, 'overall'));
    }
    this.started++;
    const download = this.opts.load(url).then(
      (pem) => {
        this.certs.set(url, pem, this.ttlMs);
        return pem;
      },
      (error: unknown) => {
        this.failures.set(url, error instanceof Error ? error : new Error(String(error)), this.failureTtlMs);
        throw error;
      },
    );
    this.pending.set(url, download);
    const forget = () => this.pending.delete(url);
    download.then(forget, forget);
    return download;
  }

  /** Downloads started so far, and what is cached (for tests and logs). */
  stats(): { downloads: number; certs: number; failures: number } {
    return { downloads: this.started, certs: this.certs.count, failures: this.failures.count };
  }
}
