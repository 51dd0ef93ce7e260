// Suppression import lines (issue 15, item 6): the reasons the engine keeps, the tenant's own
// text as a note, the address check, and cells an export guarded against formulas read back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { guardFormula, unguardFormula } from '../../src/domain/csv-export';
import { importColumns, judgeImportLine } from '../../src/domain/suppression-lists';

describe('judgeImportLine', () => {
  it.each([
    ['BOUNCE_PERMANENT', 'BOUNCE_PERMANENT'],
    ['hard bounce', 'BOUNCE_PERMANENT'],
    ['Hard-Bounce', 'BOUNCE_PERMANENT'],
    ['complaint', 'COMPLAINT'],
    ['spam', 'COMPLAINT'],
    ['Unsubscribe', 'UNSUBSCRIBED'],
    ['UNSUBSCRIBED', 'UNSUBSCRIBED'],
    ['manual', 'MANUAL'],
    ['', 'MANUAL'],
    [undefined, 'MANUAL'],
  ])('keeps the engine reason %j as %s', (reason, expected) => {
    expect(judgeImportLine(' Ada@Example.COM ', reason)).toEqual({ kind: 'valid', email: 'ada@example.com', reason: expected });
  });

  it("keeps any other reason as the tenant's note under MANUAL, up to 200 characters", () => {
    expect(judgeImportLine('a@example.com', ' asked by phone ')).toEqual({
      kind: 'valid',
      email: 'a@example.com',
      reason: 'MANUAL',
      note: 'asked by phone',
    });
    expect(judgeImportLine('a@example.com', 'x'.repeat(200))).toMatchObject({ kind: 'valid', note: 'x'.repeat(200) });
    expect(judgeImportLine('a@example.com', 'x'.repeat(201))).toMatchObject({ kind: 'rejected', code: 'REASON_TOO_LONG' });
  });

  it.each(['', 'no-at-sign', 'two@@example.com', 'a@localhost', 'a b@example.com', 'a@example.1'])('rejects the address %j', (email) => {
    expect(judgeImportLine(email, 'MANUAL')).toMatchObject({ kind: 'rejected', code: 'INVALID_EMAIL' });
  });

  it('reads back an address or a reason the export guarded against formulas', () => {
    expect(judgeImportLine("'=cmd@example.com", "'=HYPERLINK(1)")).toEqual({
      kind: 'valid',
      email: '=cmd@example.com',
      reason: 'MANUAL',
      note: '=HYPERLINK(1)',
    });
    // Any cell that does not start with a quote comes back as it was exported.
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.startsWith("'")),
        (cell) => unguardFormula(guardFormula(cell)) === cell,
      ),
    );
  });
});

describe('importColumns', () => {
  it('finds email and reason in any case and order, ignoring other columns', () => {
    expect(importColumns(['name', ' Reason ', 'EMAIL'])).toEqual({ email: 2, reason: 1 });
    expect(importColumns(['email'])).toEqual({ email: 0 });
    expect(importColumns(['address', 'reason'])).toBeUndefined();
  });
});
