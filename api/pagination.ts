// Opaque cursors: base64url JSON of whatever position the store needs.
import { DomainError } from '../src/domain/errors';

export const encodeCursor = (value: unknown): string | null =>
  value === undefined ? null : Buffer.from(JSON.stringify(value)).toString('base64url');

export function decodeCursor<T>(raw: unknown): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  try {
    const value = JSON.parse(Buffer.from(String(raw), 'base64url').toString('utf8')) as T;
    if (value === null || typeof value !== 'object') throw new Error('not an object');
    return value;
  } catch {
    throw new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');
  }
}
