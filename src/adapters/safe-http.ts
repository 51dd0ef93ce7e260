// Webhook destinations vetted once and then used as vetted: the host is resolved a single time,
// every address it resolves to must be allowed (src/domain/network-guard), and the request
// connects to those addresses themselves. A second lookup at connect time would let a name that
// answered with a public address for the check answer 127.0.0.1 for the connection (DNS
// rebinding). The Host header, TLS SNI and certificate check stay on the real host name, and
// redirects are never followed (node:http does not).
import { lookup as systemLookup, Resolver } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Config } from '../config';
import { forbiddenAddressReason, forbiddenHostNameReason, normaliseAddress } from '../domain/network-guard';

export interface CallbackPolicy {
  /** Local and test stacks only (their receivers listen on 127.0.0.1); refused in production. */
  allowPrivateNetworks: boolean;
  /** Resolvers to ask instead of the system's (CALLBACK_DNS_SERVERS), as "ip" or "ip:port". */
  dnsServers: string[];
}

/** The safe default wherever no policy is given: private networks refused, the system resolver. */
export const STRICT_CALLBACK_POLICY: CallbackPolicy = { allowPrivateNetworks: false, dnsServers: [] };

export function callbackPolicy(config: Pick<Config, 'CALLBACK_ALLOW_PRIVATE_NETWORKS' | 'CALLBACK_DNS_SERVERS'>): CallbackPolicy {
  return { allowPrivateNetworks: config.CALLBACK_ALLOW_PRIVATE_NETWORKS, dnsServers: config.CALLBACK_DNS_SERVERS };
}

interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface VettedDestination {
  url: URL;
  /** The URL's host without IPv6 brackets. */
  hostname: string;
  /** Every address the host resolved to, all allowed; the only ones a request may connect to. */
  addresses: ResolvedAddress[];
}

/** The destination is not allowed (a private or special-purpose address, or such a name). */
export class ForbiddenDestinationError extends Error {
  constructor(
    readonly hostname: string,
    readonly reason: string,
    readonly address?: string,
  ) {
    super(`${hostname}${address && address !== hostname ? ` (${address})` : ''} is ${reason}`);
    this.name = 'ForbiddenDestinationError';
  }
}

/** The host has no address, or the resolver did not answer (may be temporary). */
export class UnresolvableDestinationError extends Error {
  constructor(
    readonly hostname: string,
    cause?: unknown,
  ) {
    super(`${hostname} does not resolve${cause ? `: ${String(cause)}` : ''}`, { cause });
    this.name = 'UnresolvableDestinationError';
  }
}

/** Resolves the URL's host once and checks every address; throws when one is not allowed. */
export async function vetDestination(url: URL, policy: CallbackPolicy, signal?: AbortSignal): Promise<VettedDestination> {
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const literal = normaliseAddress(hostname);
  if (!policy.allowPrivateNetworks && literal === undefined) {
    const reason = forbiddenHostNameReason(hostname);
    if (reason) throw new ForbiddenDestinationError(hostname, reason);
  }
  const addresses = literal !== undefined ? [withFamily(literal)] : await resolveHost(hostname, policy, signal);
  if (addresses.length === 0) throw new UnresolvableDestinationError(hostname);
  if (!policy.allowPrivateNetworks) {
    for (const { address } of addresses) {
      const reason = forbiddenAddressReason(address);
      if (reason) throw new ForbiddenDestinationError(hostname, reason, address);
    }
  }
  return { url, hostname, addresses };
}

/**
 * POSTs to a vetted destination, connecting only to its vetted addresses, and answers the
 * HTTP status (the body is not read). Rejects on network errors and when `signal` aborts.
 */
export function postToVetted(
  destination: VettedDestination,
  init: { headers: Record<string, string>; body: string; signal: AbortSignal },
): Promise<number> {
  const { url, hostname, addresses } = destination;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const request = send(
      {
        host: hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...init.headers, host: url.host, 'content-length': String(Buffer.byteLength(init.body)) },
        lookup: pinnedLookup(addresses),
        // SNI carries a name, never an address; the certificate is checked against `host`.
        ...(isIP(hostname) ? {} : { servername: hostname }),
        // A fresh connection each time: a pooled socket could be one made for another address.
        agent: false,
        signal: init.signal,
      },
      (response) => {
        resolve(response.statusCode ?? 0);
        response.destroy();
      },
    );
    // Kept for the request's whole life: an error after the answer must not go unhandled.
    request.on('error', reject);
    request.end(init.body);
  });
}

/** Answers every lookup with the vetted addresses (the "all" form lets Node try each in turn). */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const wanted = addresses.filter((a) => !options.family || a.family === options.family);
    const usable = wanted.length > 0 ? wanted : addresses;
    if (options.all) callback(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  };
}

async function resolveHost(hostname: string, policy: CallbackPolicy, signal?: AbortSignal): Promise<ResolvedAddress[]> {
  try {
    const found = policy.dnsServers.length > 0 ? await askServers(hostname, policy.dnsServers, signal) : await askSystem(hostname, signal);
    return found.map((address) => withFamily(normaliseAddress(address) ?? address));
  } catch (error) {
    if (error instanceof UnresolvableDestinationError) throw error;
    throw new UnresolvableDestinationError(hostname, error);
  }
}

const NO_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);
const noAnswer = (error: unknown): string[] => {
  if (NO_ANSWER.has((error as { code?: string }).code ?? '')) return [];
  throw error;
};

/** A and AAAA from the configured servers; a name without either record has no address. */
async function askServers(hostname: string, servers: string[], signal?: AbortSignal): Promise<string[]> {
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers(servers);
  const cancel = () => resolver.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    const [v4, v6] = await Promise.all([resolver.resolve4(hostname).catch(noAnswer), resolver.resolve6(hostname).catch(noAnswer)]);
    return [...v4, ...v6];
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

/** getaddrinfo, as fetch would have used (hosts file included); it cannot be cancelled, only raced. */
async function askSystem(hostname: string, signal?: AbortSignal): Promise<string[]> {
  signal?.throwIfAborted();
  const answer = systemLookup(hostname, { all: true, verbatim: true }).then((found) => found.map((a) => a.address), noAnswer);
  if (!signal) return answer;
  return new Promise<string[]>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void answer.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function withFamily(address: string): ResolvedAddress {
  return { address, family: isIP(address) === 6 ? 6 : 4 };
}
