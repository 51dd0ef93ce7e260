// Identifiers in paths. Every id the engine hands out (ULIDs, message ids like
// b00001-r000000001) is short and plain; anything else names nothing, so it is a 404 without a
// database lookup (a DynamoDB key has a size limit, and a 3 kB id must not become a 500).
import { notFound } from '../src/domain/errors';

export const MAX_ID_LENGTH = 64;
const ID = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ID_LENGTH}}$`);

export const isPlausibleId = (raw: string): boolean => ID.test(raw);

/** The id if it could name something, else the contract's 404 (echoing at most 64 characters). */
export function pathId(what: string, raw: string): string {
  if (isPlausibleId(raw)) return raw;
  const shown = raw.length > MAX_ID_LENGTH ? `${raw.slice(0, MAX_ID_LENGTH)}…` : raw;
  throw notFound(what, JSON.stringify(shown));
}
