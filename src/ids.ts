// ULIDs for hot paths (issue 18, item 5): the ulid package asks the system for random bytes once
// per character (16 getRandomValues calls per id); an id per API request made that 1.6 % of
// the API's CPU in the bench's profile. The same ULIDs, their random part drawn from a pool
// filled from the system's CSPRNG 4 KiB at a time (a byte / 256, times 32: each of the 32
// characters equally likely).
import { randomFillSync } from 'node:crypto';
import { ulid } from 'ulid';

const pool = new Uint8Array(4096);
let next = pool.length;

function pooledRandom(): number {
  if (next >= pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 256;
}

/** A new ULID (time now, 80 random bits from the pool). */
export const fastUlid = (): string => ulid(undefined, pooledRandom);
