// Verifies that an SNS message really comes from Amazon SNS for one of our topics: topic
// allow-list, signing-certificate URL on an SNS host, and the RSA signature over the canonical
// string. Certificates are fetched over the network, hence an adapter and not domain code.
import { createVerify, X509Certificate } from 'node:crypto';
import { isAmazonSnsCertUrl, isAmazonSnsHostUrl, snsStringToSign, type SnsMessage } from '../domain/sns-message';

export type SnsVerificationReason = 'UNKNOWN_TOPIC' | 'UNTRUSTED_CERT_URL' | 'BAD_SIGNATURE' | 'CERT_FETCH_FAILED' | 'UNSUPPORTED_VERSION';

export class SnsVerificationError extends Error {
  constructor(
    readonly reason: SnsVerificationReason,
    message: string,
  ) {
    super(message);
    this.name = 'SnsVerificationError';
  }
}

export interface SnsVerifierOptions {
  topicArns: string[];
  /**
   * Test/local escape hatch: cert URLs starting with one of these are trusted even over http.
   * Matching is a plain prefix test, so end a prefix with "/" (or give a full URL).
   */
  trustedCertUrlPrefixes?: string[];
  fetch?: typeof fetch;
  cacheSize?: number;
}

const ALGORITHMS: Record<SnsMessage['SignatureVersion'], string> = { '1': 'RSA-SHA1', '2': 'RSA-SHA256' };
const FETCH_TIMEOUT_MS = 5_000;
// A certificate is a couple of KB; anything far larger is not one.
const MAX_CERT_BYTES = 64 * 1024;
// SNS clocks are Amazon's; an hour absorbs any sane skew on our side while still refusing
// messages minted for the far future.
const MAX_FUTURE_SKEW_MS = 60 * 60 * 1000;

/** Where a subscription may be confirmed: an SNS endpoint over https, or a trusted local prefix. */
export function isAllowedSubscribeUrl(url: string, trustedPrefixes: string[]): boolean {
  return isAmazonSnsHostUrl(url) || trustedPrefixes.some((prefix) => prefix !== '' && url.startsWith(prefix));
}

export class SnsVerifier {
  private readonly topicArns: ReadonlySet<string>;
  private readonly trustedPrefixes: string[];
  private readonly fetchFn: typeof fetch;
  private readonly cacheSize: number;
  // Promises, not PEMs, so concurrent verifications of one URL share a single request.
  // Map iteration order is insertion order: re-inserting on a hit makes it an LRU.
  private readonly certs = new Map<string, Promise<string>>();

  constructor(opts: SnsVerifierOptions) {
    this.topicArns = new Set(opts.topicArns);
    this.trustedPrefixes = (opts.trustedCertUrlPrefixes ?? []).filter((p) => p !== '');
    this.fetchFn = opts.fetch ?? fetch;
    this.cacheSize = Math.max(1, opts.cacheSize ?? 32);
  }

  async verify(m: SnsMessage): Promise<void> {
    const algorithm = ALGORITHMS[m.SignatureVersion];
    if (!algorithm) {
      throw new SnsVerificationError('UNSUPPORTED_VERSION', `unsupported SNS SignatureVersion ${String(m.SignatureVersion)}`);
    }
    if (!this.topicArns.has(m.TopicArn)) {
      throw new SnsVerificationError('UNKNOWN_TOPIC', `SNS message from unexpected topic ${m.TopicArn}`);
    }
    // There is no timestamp reason: a message claiming a time we cannot trust is treated as
    // not genuinely signed by SNS.
    const sentAt = Date.parse(m.Timestamp);
    if (Number.isNaN(sentAt)) {
      throw new SnsVerificationError('BAD_SIGNATURE', `SNS message Timestamp is not a date: ${m.Timestamp}`);
    }
    if (sentAt - Date.now() > MAX_FUTURE_SKEW_MS) {
      throw new SnsVerificationError('BAD_SIGNATURE', `SNS message Timestamp is in the future: ${m.Timestamp}`);
    }
    if (!this.isTrustedCertUrl(m.SigningCertURL)) {
      throw new SnsVerificationError('UNTRUSTED_CERT_URL', `SNS SigningCertURL is not an Amazon SNS URL: ${m.SigningCertURL}`);
    }
    const certPem = await this.certificate(m.SigningCertURL);
    let valid: boolean;
    try {
      valid = createVerify(algorithm).update(snsStringToSign(m), 'utf8').verify(certPem, m.Signature, 'base64');
    } catch (error) {
      throw new SnsVerificationError('BAD_SIGNATURE', `SNS signature could not be checked: ${String(error)}`);
    }
    if (!valid) throw new SnsVerificationError('BAD_SIGNATURE', 'SNS signature does not match the message');
  }

  private isTrustedCertUrl(url: string): boolean {
    return isAmazonSnsCertUrl(url) || this.trustedPrefixes.some((prefix) => url.startsWith(prefix));
  }

  private certificate(url: string): Promise<string> {
    const cached = this.certs.get(url);
    if (cached) {
      this.certs.delete(url);
      this.certs.set(url, cached);
      return cached;
    }
    const pending = this.download(url);
    // A failed download must not poison the cache: the next message retries the fetch.
    pending.catch(() => {
      if (this.certs.get(url) === pending) this.certs.delete(url);
    });
    this.certs.set(url, pending);
    while (this.certs.size > this.cacheSize) {
      const oldest = this.certs.keys().next().value;
      if (oldest === undefined) break;
      this.certs.delete(oldest);
    }
    return pending;
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
      // Parsed only to reject non-certificates early; verify() takes the PEM itself.
      new X509Certificate(pem);
    } catch {
      throw new SnsVerificationError('CERT_FETCH_FAILED', `${url} did not serve an X.509 certificate`);
    }
    return pem;
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message;
  return String(error);
}
