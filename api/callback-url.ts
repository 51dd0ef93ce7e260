// Callback URLs must be http(s); in production they must not point at private networks
// (a webhook must not become a way to reach our own infrastructure).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DomainError } from '../src/domain/errors';

export function isPrivateAddress(ip: string): boolean {
  const v = ip.toLowerCase();
  if (isIP(v) === 4) {
    const [a, b] = v.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      a === 127 ||
      a === 0 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      a >= 224
    );
  }
  if (v.startsWith('::ffff:')) return isPrivateAddress(v.slice(7));
  return v === '::1' || v === '::' || v.startsWith('fc') || v.startsWith('fd') || v.startsWith('fe80');
}

export async function checkCallbackUrl(raw: string, production: boolean): Promise<void> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DomainError('invalid', 'INVALID_CALLBACK_URL', 'callback_url is not a valid URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DomainError('invalid', 'INVALID_CALLBACK_URL', 'callback_url must use http or https.');
  }
  if (url.username || url.password) {
    throw new DomainError('invalid', 'INVALID_CALLBACK_URL', 'callback_url must not carry credentials.');
  }
  if (!production) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.internal')) {
    throw new DomainError('unprocessable', 'PRIVATE_CALLBACK_URL', 'callback_url must not point to a private address.');
  }
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  if (addresses.length === 0) {
    throw new DomainError('unprocessable', 'UNRESOLVABLE_CALLBACK_URL', 'callback_url host does not resolve.');
  }
  if (addresses.some(isPrivateAddress)) {
    throw new DomainError('unprocessable', 'PRIVATE_CALLBACK_URL', 'callback_url must not point to a private address.');
  }
}
