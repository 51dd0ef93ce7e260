// Verifies that an SNS message really comes from Amazon SNS for one of our topics, and is
// current. Certificates are fetched over the network, hence an adapter and not domain code.
//
// What is accepted (issue 14, item 5), in the order it is checked:
// - SignatureVersion 1 (RSA-SHA1) or 2 (RSA-SHA256), and a TopicArn from SNS_TOPIC_ARNS.
// - Timestamp: SNS's ISO 8601 UTC form, at most SNS_MAX_MESSAGE_AGE_SECONDS old (default 3600,
//   also the most allowed: SNS gives up retrying an HTTP/S delivery within 3,600 s, a hard
//   limit) and at most SNS_CLOCK_SKEW_SECONDS (default 300, at most 900) in the future; the skew
//   is also added to the age. SNS keeps the original Timestamp and signature on every retry, so
//   nothing SNS can still deliver is refused, while a captured message cannot be replayed later.
// - SigningCertURL: https://sns.<region>.amazonaws.com/SimpleNotificationService-<32 hex>.pem
//   (sns.cn-<...>.amazonaws.com.cn for China), spelt exactly so: lowercase host, no port, no
//   userinfo, query or fragment (see isAmazonSnsCertUrl); or, outside production only, under an
//   SNS_TRUSTED_CERT_URLS prefix (same scheme, host and port, path prefix), which is how the
//   local stack signs. One spelling per certificate means one cache entry and one download:
//   variants (SnS.…, :443) would each miss the cache and push real certificates out of it.
// - The RSA signature over Amazon's canonical string, with the certificate at that URL.
//   Certificates are cached by canonical URL (successes for a day, failures for 15 s, both
//   capped). The certificate URL is not signed, so anyone who knows a topic ARN can name any
//   well-formed URL with a fresh Timestamp and have us fetch it: that is what the limits on
//   downloads are for (see CertCache). A download first needs a token of the source's own, the
//   address that posted the message (req.ip, IPv6 by /64: a burst of 2, then one each 5
//   minutes), and then one from the bucket shared by all (a burst of 5, then 6 a minute). Junk
//   from one address therefore spends that address's share, not the one a genuine SNS delivery
//   needs on a cold cache (after a restart, or a new certificate), and a cached certificate
//   costs no token at all. Many addresses together can still hold the shared bucket down; SNS
//   then gets 503 and retries, and the shared bucket bounds what we ask of Amazon.
// Inside the window a message may come more than once (SNS retries, SES publishes twice): the
// event processor applies each event once, and a repeat does not re-add a suppression the
// tenant deleted after the event (the tombstones in src/adapters/dynamo/suppressions.ts).
// Refusals are 403 with the reason as the error code (SNS does not retry a 4xx, and a message
// refused once would be refused again); a certificate that could not be fetched, or a fetch
// the rate limit held back, is 503 with Retry-After, so SNS tries again.
import { createVerify, X509Certificate, type KeyObject } from 'node:crypto';
import {
  isAmazonSnsCertUrl,
  isAmazonSnsHostUrl,
  isUnderTrustedPrefix,
  snsStringToSign,
  snsTimestampProblem,
  type SnsMessage,
  type SnsMessageWindow,
} from '../domain/sns-message';
import type { Config } from '../config';
import { CertCache, type CertCacheOptions } from './sns-cert-cache';

export type SnsVerificationReason =
  | 'UNKNOWN_TOPIC'
  | 'UNTRUSTED_CERT_URL'
  | 'BAD_SIGNATURE'
  | 'CERT_FETCH_FAILED'
  | 'CERT_FETCH_THROTTLED'
  | 'UNSUPPORTED_VERSION'
  | 'INVALID_TIMESTAMP'
  | 'STALE_MESSAGE'
  | 'FUTURE_MESSAGE';

export class SnsVerificationError extends Error {
  constructor(
    readonly reason: SnsVerificationReason,
    message: string,
    /** When trying again may succeed: how long to wait. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'SnsVerificationError';
  }
}

export interface SnsVerifierOptions {
  topicArns: string[];
  /**
   * Test/local escape hatch: cert URLs under one of these are trusted even over http (same
   * scheme, host and port, and a path starting with the prefix's path).
   */
  trustedCertUrlPrefixes?: string[];
  /** Oldest message accepted, in seconds (SNS_MAX_MESSAGE_AGE_SECONDS). Default 3600. */
  maxMessageAgeSeconds?: number;
  /** Clock difference allowed with Amazon, in seconds (SNS_CLOCK_SKEW_SECONDS). Default 300. */
  clockSkewSeconds?: number;
  fetch?: typeof fetch;
  /** Certificates cached (default 32). */
  cacheSize?: number;
  /** The certificate cache's other limits (failures, the shared rate, each source's); see CertCache. */
  certCache?: Pick<CertCacheOptions, 'failureSize' | 'failureTtlMs' | 'burst' | 'perMinute' | 'perSource'>;
  now?: () => number;
}

const ALGORITHMS: Record<SnsMessage['SignatureVersion'], string> = { '1': 'RSA-SHA1', '2': 'RSA-SHA256' };
const FETCH_TIMEOUT_MS = 5_000;
// A certificate is a couple of KB; anything far larger is not one.
const MAX_CERT_BYTES = 64 * 1024;

/** The verifier the API runs with: topics, trusted local prefixes and the replay window from the config. */
export function snsVerifierFor(
  config: Pick<Config, 'SNS_TOPIC_ARNS' | 'SNS_TRUSTED_CERT_URLS' | 'SNS_MAX_MESSAGE_AGE_SECONDS' | 'SNS_CLOCK_SKEW_SECONDS'>,
): SnsVerifier {
  return new SnsVerifier({
    topicArns: config.SNS_TOPIC_ARNS,
    trustedCertUrlPrefixes: config.SNS_TRUSTED_CERT_URLS,
    maxMessageAgeSeconds: config.SNS_MAX_MESSAGE_AGE_SECONDS,
    clockSkewSeconds: config.SNS_CLOCK_SKEW_SECONDS,
  });
}

/** Where a subscription may be confirmed: an SNS endpoint over https, or a trusted local prefix. */
export function isAllowedSubscribeUrl(url: string, trustedPrefixes: string[]): boolean {
  return isAmazonSnsHostUrl(url) || trustedPrefixes.some((prefix) => prefix !== '' && isUnderTrustedPrefix(url, prefix));
}

export class SnsVerifier {
  private readonly topicArns: ReadonlySet<string>;
  private readonly trustedPrefixes: string[];
  private readonly fetchFn: typeof fetch;
  private readonly window: SnsMessageWindow;
  private readonly now: () => number;
  private readonly certs: CertCache;
  /**
   * Each certificate's public key, parsed once (issue 18, item 5): verifying against the PEM
   * parsed the certificate at every message, 7 times the cost of the check itself. Keyed by the
   * PEM the cache gives, so a certificate fetched anew (rotated) is parsed anew.
   */
  private readonly keys = new Map<string, KeyObject>();

  constructor(opts: SnsVerifierOptions) {
    this.topicArns = new Set(opts.topicArns);
    this.trustedPrefixes = (opts.trustedCertUrlPrefixes ?? []).filter((p) => p !== '');
    this.fetchFn = opts.fetch ?? fetch;
    this.window = { maxAgeMs: (opts.maxMessageAgeSeconds ?? 3600) * 1000, skewMs: (opts.clockSkewSeconds ?? 300) * 1000 };
    this.now = opts.now ?? Date.now;
    this.certs = new CertCache({
      ...opts.certCache,
      size: opts.cacheSize,
      now: this.now,
      load: (url) => this.download(url),
      throttled: (url, retryAfterMs, limit) =>
        new SnsVerificationError(
          'CERT_FETCH_THROTTLED',
          `SNS signing certificate ${url} not fetched: too many certificate downloads${limit === 'source' ? ' asked for from this address' : ''}`,
          retryAfterMs,
        ),
    });
  }

  /**
   * Resolves when `m` is a genuine, current SNS message for one of our topics. `source` is the
   * address that posted it, which certificate downloads are charged to; without one, every
   * such call shares a single source's limit.
   */
  async verify(m: SnsMessage, source?: string): Promise<void> {
    const algorithm = ALGORITHMS[m.SignatureVersion];
    if (!algorithm) {
      throw new SnsVerificationError('UNSUPPORTED_VERSION', `unsupported SNS SignatureVersion ${String(m.SignatureVersion)}`);
    }
    if (!this.topicArns.has(m.TopicArn)) {
      throw new SnsVerificationError('UNKNOWN_TOPIC', `SNS message from unexpected topic ${m.TopicArn}`);
    }
    // Before the certificate: a message outside the window costs no download.
    const problem = snsTimestampProblem(m.Timestamp, this.now(), this.window);
    if (problem) throw new SnsVerificationError(problem, timestampText(problem, m.Timestamp, this.window));
    if (!this.isTrustedCertUrl(m.SigningCertURL)) {
      throw new SnsVerificationError('UNTRUSTED_CERT_URL', `SNS SigningCertURL is not an Amazon SNS certificate URL: ${m.SigningCertURL}`);
    }
    // Amazon's URLs are canonical already; a local prefix's are made so, one entry per file.
    const certPem = await this.certs.get(new URL(m.SigningCertURL).href, source);
    let valid: boolean;
    try {
      valid = createVerify(algorithm).update(snsStringToSign(m), 'utf8').verify(this.publicKey(certPem), m.Signature, 'base64');
    } catch (error) {
      throw new SnsVerificationError('BAD_SIGNATURE', `SNS signature could not be checked: ${String(error)}`);
    }
    if (!valid) throw new SnsVerificationError('BAD_SIGNATURE', 'SNS signature does not match the message');
  }

  private publicKey(certPem: string): KeyObject {
    let key = this.keys.get(certPem);
    if (!key) {
      key = new X509Certificate(certPem).publicKey;
      // A handful of certificates at a time; the oldest go once there are more.
      if (this.keys.size >= MAX_PARSED_KEYS) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(certPem, key);
    }
    return key;
  }

  /** Certificate downloads so far and what is cached. */
  certStats() {
    return this.certs.stats();
  }

  private isTrustedCertUrl(url: string): boolean {
    return isAmazonSnsCertUrl(url) || this.trustedPrefixes.some((prefix) => isUnderTrustedPrefix(url, prefix));
  }

  private async download(url: string): Promise<string> {
    let pem: string;
    try {
      // No redirects: the URL we vetted must be the one that serves the certificate.
      const res = await this.fetchFn(url, { redirect: 'error', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      pem = await res.text();
    } catch (error) {
      throw new SnsVerificationError('CERT_FETCH_FAILED', `could not fetch SNS signing certificate ${url}: ${errorText(error)}`);
    }
    if (pem.length > MAX_CERT_BYTES) {
      throw new SnsVerificationError('CERT_FETCH_FAILED', `SNS signing certificate ${url} is implausibly large`);
    }
    try {
      // Parsed here to reject non-certificates early (its key is parsed again, once, at its first use).
      new X509Certificate(pem);
    } catch {
      throw new SnsVerificationError('CERT_FETCH_FAILED', `${url} did not serve an X.509 certificate`);
    }
    return pem;
  }
}

/** Parsed public keys kept (certificates in use at once: SNS signs with one per region at a time). */
const MAX_PARSED_KEYS = 64;

function timestampText(problem: string, timestamp: string, window: SnsMessageWindow): string {
  if (problem === 'INVALID_TIMESTAMP') return `SNS message Timestamp is not an ISO 8601 UTC time: ${timestamp}`;
  if (problem === 'STALE_MESSAGE') {
    return `SNS message Timestamp ${timestamp} is older than the ${(window.maxAgeMs + window.skewMs) / 1000} s accepted (SNS retries for at most an hour)`;
  }
  return `SNS message Timestamp ${timestamp} is more than ${window.skewMs / 1000} s in the future`;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
  return String(error);
}
