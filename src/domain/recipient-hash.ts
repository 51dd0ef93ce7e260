// How a recipient is named where their address may not be kept: the SHA-256 of the normalised
// address (lowercase hex). The same hash names them in the recipient index, the suppression of
// an erased recipient, suppression tombstones and the audit log, so a tenant can compute it too.
import { createHash } from 'node:crypto';
import { normalizeEmail } from './email-address';

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** The hash of an address already normalised (as ingest stores it). */
export const recipientHash = (normalisedEmail: string) => sha256(normalisedEmail);

/** The hash of an address as written anywhere (a CSV cell), or undefined when it is not a valid address. */
export function hashOfAddress(raw: string): string | undefined {
  const email = normalizeEmail(raw);
  return email === null ? undefined : recipientHash(email);
}

/** One erasure id per tenant and person: repeated requests name the same erasure. */
export const erasureIdFor = (tenantId: string, hash: string) => `er_${sha256(`${tenantId}\n${hash}`).slice(0, 32)}`;
