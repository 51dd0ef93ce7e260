// The addresses and callback URLs the webhook SSRF guard must refuse, and some it must let
// through, shared by the unit tests of the range table and the creation and delivery tests.

/** The bypasses issue 14 reproduced (accepted by the old check even in production). */
export const REPORTED_BYPASSES = [
  '[::ffff:7f00:1]',
  '[::ffff:127.0.0.1]',
  '[::ffff:169.254.169.254]',
  '[::ffff:10.0.0.5]',
  '[::127.0.0.1]',
  '[64:ff9b::a9fe:a9fe]',
  '[fec0::]',
  '[2002:7f00:1::]',
  '198.18.0.1',
];

/** One address or more in every refused range, with the words the refusal names it by. */
export const FORBIDDEN_ADDRESSES: [address: string, range: string][] = [
  ['0.0.0.0', '"this network"'],
  ['0.1.2.3', '"this network"'],
  ['10.0.0.5', 'private network 10.0.0.0/8'],
  ['10.255.255.255', 'private network 10.0.0.0/8'],
  ['100.64.0.1', 'CGNAT'],
  ['100.127.255.254', 'CGNAT'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.255', 'loopback'],
  ['169.254.169.254', 'link-local'],
  ['172.16.0.1', 'private network 172.16.0.0/12'],
  ['172.31.255.255', 'private network 172.16.0.0/12'],
  ['192.0.0.1', 'IETF protocol assignments 192.0.0.0/24'],
  ['192.0.0.170', 'IETF protocol assignments 192.0.0.0/24'],
  ['192.0.2.1', 'TEST-NET-1'],
  ['192.88.99.1', '6to4 relay anycast'],
  ['192.168.1.1', 'private network 192.168.0.0/16'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking'],
  ['198.51.100.7', 'TEST-NET-2'],
  ['203.0.113.9', 'TEST-NET-3'],
  ['224.0.0.1', 'multicast 224.0.0.0/4'],
  ['239.255.255.250', 'multicast 224.0.0.0/4'],
  ['240.0.0.1', 'reserved 240.0.0.0/4'],
  ['255.255.255.254', 'reserved 240.0.0.0/4'],
  ['255.255.255.255', 'limited broadcast'],
  ['::', 'unspecified'],
  ['::1', 'loopback ::1/128'],
  ['::127.0.0.1', 'IPv4-compatible'],
  ['::a9fe:a9fe', 'IPv4-compatible'],
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback'],
  ['::ffff:169.254.169.254', 'IPv4-mapped link-local'],
  ['::ffff:10.0.0.5', 'IPv4-mapped private network'],
  ['::ffff:0:7f00:1', 'IPv4-translated'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 64:ff9b::/96'],
  ['64:ff9b::127.0.0.1', 'NAT64 64:ff9b::/96'],
  ['64:ff9b:1::a00:5', 'local-use NAT64'],
  ['100::1', 'discard-only'],
  ['2001::1', 'Teredo'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo'],
  ['2001:2::1', 'IETF protocol assignments 2001::/23'],
  ['2001:1ff:ffff::1', 'IETF protocol assignments 2001::/23'],
  ['2001:db8::1', 'documentation 2001:db8::/32'],
  ['2002:7f00:1::', '6to4'],
  ['2002:a9fe:a9fe::1', '6to4'],
  ['3fff::1', 'documentation 3fff::/20'],
  ['5f00::1', 'SRv6'],
  ['fc00::1', 'unique local'],
  ['fd12:3456::1', 'unique local'],
  ['fec0::', 'site-local'],
  ['feff::1', 'site-local'],
  ['fe80::1', 'link-local fe80::/10'],
  ['fe80::1%eth0', 'link-local fe80::/10'],
  ['ff02::1', 'multicast ff00::/8'],
  ['ff05::1:3', 'multicast ff00::/8'],
  ['4000::1', 'outside global unicast'],
  ['1::1', 'outside global unicast'],
];

/** Globally reachable, some just outside a refused range. */
export const ALLOWED_ADDRESSES = [
  '93.184.216.34',
  '8.8.8.8',
  '1.1.1.1',
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '172.15.255.255',
  '172.32.0.0',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2606:4700::1111',
  '2001:4860:4860::8888',
  '2a00:1450:4001:80b::200e',
  '2001:200::1',
  '2001:db9::1',
  '2003::1',
  '::ffff:93.184.216.34',
];

/** How a URL writes an address as its host. */
export const urlHost = (address: string) => (address.includes(':') ? `[${address.replace(/%.*$/, '')}]` : address);

/**
 * Callback URLs that must be refused without any DNS: every listed address (on `port`) and the
 * other spellings of loopback the URL parser accepts, plus names refused by name.
 */
export function forbiddenLiteralUrls(port: number): string[] {
  const hosts = new Set([...REPORTED_BYPASSES, ...FORBIDDEN_ADDRESSES.map(([a]) => urlHost(a))]);
  return [
    ...[...hosts].map((host) => `http://${host}:${port}/hooks`),
    `https://[::ffff:127.0.0.1]:${port}/hooks`,
    `http://0x7f.1:${port}/hooks`,
    `http://2130706433:${port}/hooks`,
    `http://0177.0.0.1:${port}/hooks`,
    `http://127.1:${port}/hooks`,
    `http://0:${port}/hooks`,
    `http://localhost:${port}/hooks`,
    `http://LOCALHOST.:${port}/hooks`,
    `http://hooks.localhost:${port}/hooks`,
    `http://metadata.google.internal:${port}/hooks`,
  ];
}
