// The bench's DynamoDB request-log arithmetic (test/bench/dynamo-counts.ts) and what the
// adapter's counter takes as an item's key (src/adapters/aws.ts).
import { describe, expect, it } from 'vitest';
import type { RequestLogSummary } from '../../src/adapters/dynamo-request-log';
import { writtenKeys } from '../../src/adapters/dynamo-request-log';
import { addCounts, countsAt, hottestKeys, kindOfKey, parseLog, per, subtractCounts, totalRequests } from '../bench/dynamo-counts';

const line = (at: number, requests: Record<string, number>, top: [string, number][], distinct = top.length): RequestLogSummary => ({
  pid: 1,
  at,
  requests,
  errors: {},
  items_written: top.reduce((sum, [, n]) => sum + n, 0),
  writes_by_kind: {},
  distinct_keys_written: distinct,
  top_keys: top,
});

const TXN = 'TRANSACTION#t1|METADATA';
const MSG = 'BATCH#t1#b00000|MESSAGE#m1';

describe('countsAt', () => {
  const lines = [
    line(10_000, { UpdateItem: 10 }, [[TXN, 10]]),
    line(12_000, { UpdateItem: 30 }, [[TXN, 30]]),
    // Nothing changed for 8 s: the next line comes at 22 s, its changes within its last 2 s.
    line(22_000, { UpdateItem: 50, Query: 4 }, [[TXN, 50]]),
  ];

  it('is zero before the log starts and the last line after it ends', () => {
    expect(totalRequests(countsAt(lines, 7_000, 2_000))).toBe(0);
    expect(countsAt(lines, 30_000, 2_000).requests).toEqual({ UpdateItem: 50, Query: 4 });
    expect(totalRequests(countsAt([], 5_000, 2_000))).toBe(0);
  });

  it('grows evenly between two flushes', () => {
    expect(countsAt(lines, 11_000, 2_000).requests.UpdateItem).toBe(20);
    expect(countsAt(lines, 11_000, 2_000).keys[TXN]).toBe(20);
    // Interpolated from zero over the flush before the first line.
    expect(countsAt(lines, 9_000, 2_000).requests.UpdateItem).toBe(5);
  });

  it('keeps the earlier totals through a quiet stretch, growing only in the flush before the next line', () => {
    expect(countsAt(lines, 15_000, 2_000).requests).toEqual({ UpdateItem: 30 });
    expect(countsAt(lines, 20_000, 2_000).requests).toEqual({ UpdateItem: 30 });
    expect(countsAt(lines, 21_000, 2_000).requests).toEqual({ UpdateItem: 40, Query: 2 });
  });

  it('estimates a key missing from a full top list from below', () => {
    // Two keys written, only one listed: the other had at most the smallest listed count.
    const truncated = [line(0, { PutItem: 8 }, [[TXN, 5]], 2), line(2_000, { PutItem: 12 }, [[MSG, 7]], 2)];
    const mid = countsAt(truncated, 1_000, 2_000).keys;
    expect(mid[MSG]).toBe(6); // from at most 5, to 7
    expect(mid[TXN]).toBe(5); // counts never fall
  });
});

describe('phases and processes', () => {
  it('subtracts two moments and sums the same key across processes', () => {
    const worker = [
      line(1_000, { UpdateItem: 4 }, [[TXN, 4]]),
      line(3_000, { UpdateItem: 10, Query: 2 }, [
        [TXN, 6],
        [MSG, 4],
      ]),
    ];
    // The API's first line comes later: before it (and the flush ahead of it) it had counted nothing.
    const api = [line(3_500, { TransactWriteItems: 3 }, [[TXN, 3]]), line(4_000, { TransactWriteItems: 9 }, [[TXN, 9]])];
    const window = (lines: RequestLogSummary[]) => subtractCounts(countsAt(lines, 5_000, 2_000), countsAt(lines, 1_000, 2_000));
    const both = addCounts(window(worker), window(api));
    expect(both.requests).toEqual({ UpdateItem: 6, Query: 2, TransactWriteItems: 9 });
    expect(both.keys).toEqual({ [TXN]: 2 + 9, [MSG]: 4 });
    expect(totalRequests(both)).toBe(17);
    expect(hottestKeys(both)).toEqual([{ key: TXN, kind: 'TRANSACTION', writes: 11 }]);
    expect(hottestKeys({ ...both, keys: { [MSG]: 0.2 } }, 3)).toEqual([]);
  });

  it('reads a log with a half-written last line and reports per unit', () => {
    const text = `${JSON.stringify(line(2_000, { Query: 1 }, []))}\n${JSON.stringify(line(1_000, { Query: 0 }, []))}\n{"pid":1,"at`;
    expect(parseLog(text).map((l) => l.at)).toEqual([1_000, 2_000]);
    expect(per({ UpdateItem: 2_000, Query: 10, GetItem: 0.2, PutItem: 3 }, 1_000)).toEqual({ UpdateItem: 2, Query: 0.01, PutItem: 0.003 });
    expect(per({ PutItem: 3 }, 10_000)).toEqual({ PutItem: 0.0003 });
    expect(kindOfKey('BATCH#t1#b00000|MESSAGE#m1')).toBe('BATCH');
    expect(kindOfKey('HEAD|X')).toBe('HEAD');
  });
});

describe('writtenKeys', () => {
  const S = (s: string) => ({ S: s });
  it('names every item a write request writes', () => {
    expect(writtenKeys('UpdateItem', { Key: { PK: S('A'), SK: S('B') } })).toEqual([['A', 'B']]);
    expect(writtenKeys('PutItem', { Item: { PK: S('A'), SK: S('C'), other: S('x') } })).toEqual([['A', 'C']]);
    expect(
      writtenKeys('TransactWriteItems', {
        TransactItems: [{ Update: { Key: { PK: S('M'), SK: S('1') } } }, { Put: { Item: { PK: S('T'), SK: S('2') } } }, {}],
      }),
    ).toEqual([
      ['M', '1'],
      ['T', '2'],
    ]);
    expect(
      writtenKeys('BatchWriteItem', {
        RequestItems: { t: [{ PutRequest: { Item: { PK: S('P'), SK: S('1') } } }, { DeleteRequest: { Key: { PK: S('P'), SK: S('2') } } }] },
      }),
    ).toEqual([
      ['P', '1'],
      ['P', '2'],
    ]);
    expect(writtenKeys('Query', { Key: { PK: S('A') } })).toEqual([]);
  });
});
