// Opaque cursors: base64url JSON of whatever position the store needs. A cursor comes back
// from the client, so it is checked against the one partition the request may read before it
// goes anywhere near DynamoDB: a forged or edited cursor is a 400, never a 500 or another
// tenant's page.
import { DomainError } from '../src/domain/errors';

export const encodeCursor = (value: unknown): string | null =>
  value === undefined ? null : Buffer.from(JSON.stringify(value)).toString('base64url');

const invalid = () => new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');

export function decodeCursor<T>(raw: unknown): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const value = JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8')) as T;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch {
    throw invalid();
  }
}

/** A DynamoDB table key, as LastEvaluatedKey gives it for a query on the table itself. */
export type TableKey = { PK: string; SK: string };

const MAX_SORT_KEY = 1024; // DynamoDB's limit for a sort key, in bytes

/** A table key inside partition `pk` whose sort key starts with `skPrefix`, or a 400. */
export function checkTableKey(value: unknown, pk: string, skPrefix = ''): TableKey {
  const key = value as Partial<Record<string, unknown>> | null;
  if (
    key === null ||
    typeof key !== 'object' ||
    Array.isArray(key) ||
    Object.keys(key).length !== 2 ||
    key.PK !== pk ||
    typeof key.SK !== 'string' ||
    !key.SK.startsWith(skPrefix) ||
    Buffer.byteLength(key.SK) > MAX_SORT_KEY
  ) {
    throw invalid();
  }
  return { PK: pk, SK: key.SK };
}

/** Decodes a cursor that is a bare table key in partition `pk`. */
export function decodeKeyCursor(raw: unknown, pk: string, skPrefix = ''): TableKey | undefined {
  const value = decodeCursor<unknown>(raw);
  return value === undefined ? undefined : checkTableKey(value, pk, skPrefix);
}
