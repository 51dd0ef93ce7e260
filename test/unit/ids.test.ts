import { decodeTime, isValid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { fastUlid } from '../../src/ids';

describe('fastUlid', () => {
  it('makes valid, distinct ULIDs of the current time, every character of the random part used', () => {
    const before = Date.now();
    const ids = Array.from({ length: 20_000 }, () => fastUlid());
    expect(ids.every((id) => isValid(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [ids[0]!, ids.at(-1)!]) expect(decodeTime(id)).toBeGreaterThanOrEqual(before);
    // 20,000 × 16 random characters: each of the 32 Crockford characters near 1/32 of them.
    const seen = new Map<string, number>();
    for (const id of ids) for (const c of id.slice(10)) seen.set(c, (seen.get(c) ?? 0) + 1);
    expect(seen.size).toBe(32);
    for (const n of seen.values()) expect(Math.abs(n / (ids.length * 16) - 1 / 32)).toBeLessThan(0.003);
  });
});
