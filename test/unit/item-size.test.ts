// The DynamoDB item size as DynamoDB counts it, against sizes measured on DynamoDB Local (each
// figure below is the largest filler DynamoDB Local accepted under its 409,600-byte limit; see
// test/integration/item-size.test.ts for the same rule checked live) and AWS's documented rules.
import { describe, expect, it } from 'vitest';
import {
  attributeSize,
  boundStrings,
  DYNAMODB_ITEM_LIMIT,
  itemSize,
  truncateUtf8,
  utf8Length,
  valueSize,
} from '../../src/domain/item-size';
import { boundHistoryEntry, HISTORY_ENTRY_MAX_BYTES } from '../../src/adapters/dynamo/expressions';

const fill = (n: number) => 'x'.repeat(n);

describe('itemSize', () => {
  it('counts attribute names and values: the largest items DynamoDB Local accepted are exactly 409,600 bytes', () => {
    // [item at the largest accepted filler n]: measured with PK 'a', SK 'b' on DynamoDB Local.
    const largest: [string, Record<string, unknown>][] = [
      ['plain string', { PK: 'a', SK: 'b', d: fill(409593) }],
      ['map of one', { PK: 'a', SK: 'b', m: { k: fill(409588) } }],
      ['map of two', { PK: 'a', SK: 'b', m: { k: fill(409583), kk: 'yy' } }],
      ['empty map', { PK: 'a', SK: 'b', d: fill(409589), m: {} }],
      ['list of one', { PK: 'a', SK: 'b', l: [fill(409589)] }],
      ['list of two', { PK: 'a', SK: 'b', l: [fill(409586), 'yy'] }],
      ['empty list', { PK: 'a', SK: 'b', d: fill(409589), l: [] }],
      ['list of maps', { PK: 'a', SK: 'b', l: [{ status: fill(409575), t: 'ab' }] }],
      ['number 1', { PK: 'a', SK: 'b', d: fill(409590), k: 1 }],
      ['number 12', { PK: 'a', SK: 'b', d: fill(409590), k: 12 }],
      ['number 123', { PK: 'a', SK: 'b', d: fill(409589), k: 123 }],
      ['number 1000', { PK: 'a', SK: 'b', d: fill(409590), k: 1000 }],
      ['number -1234', { PK: 'a', SK: 'b', d: fill(409588), k: -1234 }],
      ['number 0.00123', { PK: 'a', SK: 'b', d: fill(409589), k: 0.00123 }],
      ['number 1234567890123', { PK: 'a', SK: 'b', d: fill(409584), k: 1234567890123 }],
      ['number 0', { PK: 'a', SK: 'b', d: fill(409591), k: 0 }],
      ['number 1e-7', { PK: 'a', SK: 'b', d: fill(409590), k: 1e-7 }],
      ['number 10.5', { PK: 'a', SK: 'b', d: fill(409589), k: 10.5 }],
      ['number 100.001', { PK: 'a', SK: 'b', d: fill(409587), k: 100.001 }],
      ['boolean', { PK: 'a', SK: 'b', d: fill(409591), k: true }],
      ['null', { PK: 'a', SK: 'b', d: fill(409591), k: null }],
      ['string set', { PK: 'a', SK: 'b', d: fill(409587), k: new Set(['ab', 'cde']) }],
      ['two-byte characters', { PK: 'a', SK: 'b', d: 'é'.repeat(204796) + 'x' }],
    ];
    for (const [what, item] of largest) expect(itemSize(item), what).toBe(DYNAMODB_ITEM_LIMIT);
  });

  it('follows the documented rules for each type', () => {
    expect(attributeSize('name', 'héllo')).toBe(4 + 6);
    expect(valueSize('😀')).toBe(4);
    expect(valueSize(new Uint8Array(10))).toBe(10);
    expect(valueSize(1.5e21)).toBe(2);
    expect(valueSize(1234n)).toBe(3);
    expect(valueSize({ a: 'x', b: undefined })).toBe(3 + 1 + 1 + 1);
    expect(itemSize({ a: undefined })).toBe(0);
    // A message's history entry: a map of three strings in a list.
    expect(valueSize([{ status: 'SENT', timestamp: '2026-01-01T00:00:00.000Z' }])).toBe(3 + 1 + 3 + (1 + 6 + 4) + (1 + 9 + 24));
  });

  it("counts the issue's oversized header: 381 KB of column names with 30 KB of cells is a 412 KB item", () => {
    const names = Array.from({ length: 381 }, (_, i) => `c${String(i).padStart(3, '0')}${fill(996)}`);
    const data = Object.fromEntries(names.map((n, i) => [n, i < 30 ? fill(1000) : '']));
    expect(attributeSize('placeholder_data', data)).toBeGreaterThan(DYNAMODB_ITEM_LIMIT);
  });
});

describe('cutting strings', () => {
  it('never splits a character and leaves short strings alone', () => {
    expect(truncateUtf8('abc', 10)).toBe('abc');
    expect(truncateUtf8('ééé', 5)).toBe('éé');
    expect(truncateUtf8('a😀b', 4)).toBe('a');
    expect(truncateUtf8('a😀b', 5)).toBe('a😀');
    expect(utf8Length(truncateUtf8('x'.repeat(5000), 1024))).toBe(1024);
    expect(boundStrings({ a: fill(10), b: [fill(10), 3], c: { d: fill(10) } }, 4)).toEqual({ a: 'xxxx', b: ['xxxx', 3], c: { d: 'xxxx' } });
  });

  it('bounds a history entry to 1 KiB, keeping status, event and time', () => {
    const small = { status: 'FAILED', timestamp: 't', metadata: { code: 'X' } };
    expect(boundHistoryEntry(small)).toBe(small);
    const big = boundHistoryEntry({ status: 'FAILED', event: 'BOUNCE', timestamp: 't', metadata: { reason: fill(50_000), code: 'X' } });
    expect(valueSize(big)).toBeLessThanOrEqual(HISTORY_ENTRY_MAX_BYTES);
    expect(big).toMatchObject({ status: 'FAILED', event: 'BOUNCE', timestamp: 't', metadata: { code: 'X', truncated: true } });
    const many = boundHistoryEntry({
      status: 'SENT',
      timestamp: 't',
      metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, fill(500)])),
    });
    expect(valueSize(many)).toBeLessThanOrEqual(HISTORY_ENTRY_MAX_BYTES);
    expect(many).toEqual({ status: 'SENT', timestamp: 't', metadata: { truncated: true } });
  });
});
