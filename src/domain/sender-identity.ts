// Sender identities: the domains and addresses a tenant may send from. A domain identity covers
// every address at exactly that domain and no subdomain (`example.com` does not cover
// `news.example.com`: a subdomain is an identity of its own, with its own DNS proof); an
// address identity covers that address only. A tenant's claim holds the registrable domain
// (`example.com` for `news.example.com` and `ceo@example.com`), so no tenant's domain is a
// parent or a subdomain of another's. A `from` is parsed as the mailbox it names, so a display
// name cannot smuggle in a second address.
import { getDomain } from 'tldts';
import { emailDomain, normalizeEmail } from './email-address';

export type IdentityType = 'DOMAIN' | 'EMAIL_ADDRESS';
export interface ParsedIdentity {
  identity: string;
  type: IdentityType;
}

const MAX_DOMAIN_LENGTH = 253;

/** A domain or an address, lowercased, or null when it is neither (or is, or is at, a public suffix). */
export function parseIdentity(raw: string): ParsedIdentity | null {
  if (raw.includes('@')) {
    const address = normalizeEmail(raw);
    return address && address === raw.toLowerCase() && claimRootOf(address) ? { identity: address, type: 'EMAIL_ADDRESS' } : null;
  }
  const domain = raw.toLowerCase();
  // The address check's hostname rules, on a stand-in local part.
  if (domain.length > MAX_DOMAIN_LENGTH || normalizeEmail(`postmaster@${domain}`) !== `postmaster@${domain}`) return null;
  if (!claimRootOf(domain)) return null;
  return { identity: domain, type: 'DOMAIN' };
}

/** The domain an identity belongs to: itself, or the address's domain. */
export const domainOfIdentity = (identity: string) => (identity.includes('@') ? emailDomain(identity) : identity);

/**
 * The registrable domain a claim on `identity` holds, by the public suffix list (its private
 * part too, so `alice.github.io` and `bob.github.io` are two); undefined for a public suffix
 * (`co.uk`), which is nobody's. One tenant holds it with every domain under it and every address
 * at them: one organisation's DNS is behind all of them.
 */
export function claimRootOf(identity: string): string | undefined {
  return getDomain(domainOfIdentity(identity), { allowPrivateDomains: true }) ?? undefined;
}

/**
 * Whether a tenant's claim on a registrable domain has expired: none of its identities there is
 * verified and the oldest was made `ttlMs` ago or more (a later identity does not renew it).
 */
export function claimExpired(
  identities: readonly { verified_for_sending: boolean; created_at: string }[],
  ttlMs: number,
  now: number,
): boolean {
  if (identities.length === 0 || identities.some((i) => i.verified_for_sending)) return false;
  return now - Math.min(...identities.map((i) => Date.parse(i.created_at))) >= ttlMs;
}

/** The configuration sets a tenant may send with: the engine's, and the one its operator assigned it. */
export const allowedConfigurationSets = (tenantSet: string | undefined, engineSet: string) => [
  ...new Set([engineSet, ...(tenantSet ? [tenantSet] : [])]),
];

/**
 * The configuration set a send uses: the identity's when the tenant may use it, else the
 * tenant's (undefined: the engine's). An identity's set that is neither (another tenant's, or
 * the tenant's own before the operator assigned it another) is never used.
 */
export function sendingConfigurationSet(
  identitySet: string | undefined,
  tenantSet: string | undefined,
  engineSet: string | undefined,
): string | undefined {
  return identitySet && (identitySet === tenantSet || identitySet === engineSet) ? identitySet : tenantSet;
}

/** C0 and C1 control characters (line breaks, TAB, NUL, ESC, DEL…): never in a header a tenant writes. */
export const hasControlCharacter = (value: string) =>
  [...value].some((c) => {
    const code = c.codePointAt(0)!;
    return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
  });

// A display name as RFC 5322 writes it: a quoted string, or words of atext, dots and spaces
// (non-ASCII allowed). Never an `@`: a name that reads as an address would show the recipient
// an address the tenant does not own.
const QUOTED_NAME = /^"((?:[^"\\\r\n]|\\[^\r\n])*)"$/;
const PLAIN_NAME = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~. \u0080-\uFFFF]+$/;
const NAME_AND_ADDRESS = /^(.*?)\s*<([^<>\s]+)>$/;
// What a mail client may show otherwise than written: an RFC 2047 encoded-word (it decodes
// `=?utf-8?q?ceo=40bank.com?=` to `ceo@bank.com`), and the bidi controls that reorder the text
// around them (LRE…RLO, LRI…PDI, LRM, RLM, ALM).
const ENCODED_WORD = '=?';
const BIDI_CONTROL = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * Whether a display name shows as what it says: no encoded-word, control character or bidi
 * control, and no `@`, also after NFKC (which folds the fullwidth ＠ and the small ﹫ to `@`).
 */
function isPlainName(name: string): boolean {
  return [name, name.normalize('NFKC')].every(
    (n) => !n.includes('@') && !n.includes(ENCODED_WORD) && !BIDI_CONTROL.test(n) && !hasControlCharacter(n),
  );
}

/** The mailbox a `from` names: `addr`, `<addr>` or `Name <addr>`; null if it is not one mailbox. */
export function parseMailbox(raw: string): { address: string; name?: string } | null {
  const value = raw.trim();
  const match = NAME_AND_ADDRESS.exec(value);
  if (!match) {
    const address = normalizeEmail(value);
    return address ? { address } : null;
  }
  const address = normalizeEmail(match[2]!);
  if (!address) return null;
  const rawName = match[1]!;
  if (rawName === '') return { address };
  const quoted = QUOTED_NAME.exec(rawName);
  const name = quoted ? quoted[1]!.replace(/\\(.)/g, '$1') : PLAIN_NAME.test(rawName) ? rawName : null;
  if (name === null || !isPlainName(name)) return null;
  return { address, name };
}

/** The identities that could cover `address`: the address itself, then its domain. */
export const candidateIdentities = (address: string) => [address, emailDomain(address)];

/** The most specific of `owned` that covers `address` (the address identity before its domain's). */
export function coveringIdentity<T extends { identity: string }>(address: string, owned: readonly T[]): T | undefined {
  const [exact, domain] = candidateIdentities(address);
  return owned.find((i) => i.identity === exact) ?? owned.find((i) => i.identity === domain);
}

/** The SES identity's ARN, which a send names as FromEmailAddressIdentityArn. */
export const identityArn = (region: string, accountId: string, identity: string) =>
  `arn:aws:ses:${region}:${accountId}:identity/${identity}`;

export interface DnsRecord {
  purpose: 'DKIM' | 'MAIL_FROM' | 'SPF' | 'DMARC';
  type: 'CNAME' | 'MX' | 'TXT';
  name: string;
  value: string;
}

/**
 * What a domain's owner publishes: the three Easy DKIM CNAMEs from SES's tokens (what SES
 * verifies the domain by), the MX and SPF of a custom MAIL FROM domain (`mail.<domain>` unless
 * SES has another set) so SPF aligns too, and a DMARC policy to start from. An address identity
 * is verified by the link SES mails to it: nothing to publish.
 */
export function dnsRecordsFor(
  identity: { identity: string; type: IdentityType; dkim_tokens?: string[]; dkim_signing_zone?: string; mail_from_domain?: string },
  region: string,
): DnsRecord[] {
  if (identity.type !== 'DOMAIN') return [];
  const domain = identity.identity;
  const mailFrom = identity.mail_from_domain ?? `mail.${domain}`;
  return [
    ...(identity.dkim_tokens ?? []).map((token): DnsRecord => ({
      purpose: 'DKIM',
      type: 'CNAME',
      name: `${token}._domainkey.${domain}`,
      value: `${token}.${identity.dkim_signing_zone ?? 'dkim.amazonses.com'}`,
    })),
    { purpose: 'MAIL_FROM', type: 'MX', name: mailFrom, value: `10 feedback-smtp.${region}.amazonses.com` },
    { purpose: 'SPF', type: 'TXT', name: mailFrom, value: 'v=spf1 include:amazonses.com ~all' },
    { purpose: 'DMARC', type: 'TXT', name: `_dmarc.${domain}`, value: `v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@${domain}` },
  ];
}
