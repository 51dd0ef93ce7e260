// The platform operator's credential: X-Operator-Token, compared in constant time with
// OPERATOR_TOKEN. Without one configured (never in production: the config refuses it) every
// caller of a local or test stack counts as the operator, as the API listens on loopback there.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { Config } from '../src/config';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function isOperator(config: Pick<Config, 'OPERATOR_TOKEN'>): (req: Pick<Request, 'header'>) => boolean {
  if (!config.OPERATOR_TOKEN) return () => true;
  const expected = digest(config.OPERATOR_TOKEN);
  return (req) => {
    const given = req.header('x-operator-token');
    // Digests of equal length, so neither the comparison nor its length leaks the token.
    return given !== undefined && timingSafeEqual(digest(given), expected);
  };
}
