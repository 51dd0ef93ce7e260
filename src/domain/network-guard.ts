// Which network destinations a tenant's webhook may reach: only globally reachable unicast
// addresses. Everything IANA lists as special-purpose (loopback, private, link-local and cloud
// metadata, CGNAT, benchmarking, documentation, multicast, reserved) is refused, and so are the
// IPv6 forms that lead back into IPv4 (IPv4-compatible, NAT64, 6to4, Teredo) because a gateway
// on the way may translate them to any IPv4 address. Pure: no DNS here (see src/adapters/safe-http).
import { BlockList, isIP } from 'node:net';

interface Range {
  cidr: string;
  name: string;
}

// IANA IPv4 Special-Purpose Address Registry (RFC 6890 and successors). The few entries the
// registry marks globally reachable (AS112, AMT) are outside these; 192.0.0.0/24 is refused whole.
const IPV4_RANGES: Range[] = [
  { cidr: '0.0.0.0/8', name: '"this network"' },
  { cidr: '10.0.0.0/8', name: 'private network' },
  { cidr: '100.64.0.0/10', name: 'shared address space (CGNAT)' },
  { cidr: '127.0.0.0/8', name: 'loopback' },
  { cidr: '169.254.0.0/16', name: 'link-local (cloud metadata)' },
  { cidr: '172.16.0.0/12', name: 'private network' },
  { cidr: '192.0.0.0/24', name: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', name: 'documentation (TEST-NET-1)' },
  { cidr: '192.88.99.0/24', name: '6to4 relay anycast' },
  { cidr: '192.168.0.0/16', name: 'private network' },
  { cidr: '198.18.0.0/15', name: 'benchmarking' },
  { cidr: '198.51.100.0/24', name: 'documentation (TEST-NET-2)' },
  { cidr: '203.0.113.0/24', name: 'documentation (TEST-NET-3)' },
  { cidr: '224.0.0.0/4', name: 'multicast' },
  { cidr: '255.255.255.255/32', name: 'limited broadcast' },
  { cidr: '240.0.0.0/4', name: 'reserved' },
];

// IANA IPv6 Special-Purpose Address Registry, plus the deprecated site-local block. IPv4-mapped
// addresses (::ffff:0:0/96) are not listed: they are judged by the IPv4 address they carry.
const IPV6_RANGES: Range[] = [
  { cidr: '::/128', name: 'unspecified' },
  { cidr: '::1/128', name: 'loopback' },
  { cidr: '::/96', name: 'IPv4-compatible' },
  { cidr: '::ffff:0:0:0/96', name: 'IPv4-translated' },
  { cidr: '64:ff9b::/96', name: 'NAT64' },
  { cidr: '64:ff9b:1::/48', name: 'local-use NAT64' },
  { cidr: '100::/64', name: 'discard-only' },
  { cidr: '2001::/32', name: 'Teredo' },
  { cidr: '2001::/23', name: 'IETF protocol assignments' },
  { cidr: '2001:db8::/32', name: 'documentation' },
  { cidr: '2002::/16', name: '6to4' },
  { cidr: '3fff::/20', name: 'documentation' },
  { cidr: '5f00::/16', name: 'SRv6 SIDs' },
  { cidr: 'fc00::/7', name: 'unique local' },
  { cidr: 'fec0::/10', name: 'site-local' },
  { cidr: 'fe80::/10', name: 'link-local' },
  { cidr: 'ff00::/8', name: 'multicast' },
];

type Family = 'ipv4' | 'ipv6';

function compile(ranges: Range[], family: Family): { name: string; list: BlockList }[] {
  return ranges.map(({ cidr, name }) => {
    const [network, prefix] = cidr.split('/') as [string, string];
    const list = new BlockList();
    list.addSubnet(network, Number(prefix), family);
    return { name: `${name} ${cidr}`, list };
  });
}

const IPV4_TABLE = compile(IPV4_RANGES, 'ipv4');
const IPV6_TABLE = compile(IPV6_RANGES, 'ipv6');
// Only 2000::/3 is allocated as global unicast; anything else is reserved or special.
const GLOBAL_UNICAST = compile([{ cidr: '2000::/3', name: 'global unicast' }], 'ipv6')[0]!.list;

const HOST_NAME_RULES: { test: (name: string) => boolean; name: string }[] = [
  { test: (n) => n === 'localhost' || n.endsWith('.localhost'), name: 'localhost (RFC 6761)' },
  { test: (n) => n.endsWith('.internal'), name: 'an internal name' },
];

/**
 * The canonical text of an IP address in any form a URL or a resolver may give it: brackets,
 * an IPv6 zone id, IPv4 in the dotted, hex, octal or single-number forms the WHATWG URL parser
 * accepts ("0x7f.1", "2130706433"), IPv6 with an embedded dotted quad. Undefined for a host name.
 */
export function normaliseAddress(input: string): string | undefined {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  if (text.includes(':')) text = text.replace(/%.*$/, '');
  if (!/^[0-9a-fA-FxX.:]+$/.test(text)) return undefined;
  let host: string;
  try {
    // The URL parser is the reference for what a callback URL's host means.
    host = new URL(`http://${text.includes(':') ? `[${text}]` : text}/`).hostname;
  } catch {
    return undefined;
  }
  host = host.replace(/^\[|\]$/g, '');
  return isIP(host) ? host : undefined;
}

/** Why webhooks must not go to this address, or undefined when it is globally reachable. */
export function forbiddenAddressReason(input: string): string | undefined {
  const address = normaliseAddress(input);
  if (address === undefined) return 'not an IP address';
  if (isIP(address) === 4) return IPV4_TABLE.find((r) => r.list.check(address, 'ipv4'))?.name;
  const mapped = mappedIPv4(address);
  if (mapped !== undefined) {
    const reason = forbiddenAddressReason(mapped);
    return reason && `IPv4-mapped ${reason}`;
  }
  const special = IPV6_TABLE.find((r) => r.list.check(address, 'ipv6'));
  if (special) return special.name;
  return GLOBAL_UNICAST.check(address, 'ipv6') ? undefined : 'reserved (outside global unicast 2000::/3)';
}

export function isForbiddenAddress(input: string): boolean {
  return forbiddenAddressReason(input) !== undefined;
}

/** Names refused before any lookup, whatever a resolver would answer for them. */
export function forbiddenHostNameReason(hostname: string): string | undefined {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return HOST_NAME_RULES.find((rule) => rule.test(name))?.name;
}

/** What is wrong with a callback URL itself (scheme, credentials), before its host is looked at. */
export function callbackUrlProblem(url: URL): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'callback_url must use http or https.';
  if (url.username || url.password) return 'callback_url must not carry credentials.';
  return undefined;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), given canonically. */
function mappedIPv4(canonical: string): string | undefined {
  const match = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!match) return undefined;
  const [high, low] = [parseInt(match[1]!, 16), parseInt(match[2]!, 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}
