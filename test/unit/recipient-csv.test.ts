// Unit tests for recipient CSV header checks and per-row validation.
import { describe, expect, it } from 'vitest';
import { CsvHeaderError, MAX_CELL_BYTES, MAX_COLUMNS, createRowValidator, type RowResult } from '../../src/domain/recipient-csv';

function headerError(header: string[]): CsvHeaderError {
  try {
    createRowValidator(header, []);
  } catch (error) {
    expect(error).toBeInstanceOf(CsvHeaderError);
    return error as CsvHeaderError;
  }
  throw new Error('expected a CsvHeaderError');
}

function rejected(result: RowResult) {
  if (result.kind !== 'rejected') throw new Error(`expected a rejection, got ${JSON.stringify(result)}`);
  return result;
}

describe('createRowValidator header', () => {
  it('strips a BOM, trims names and renames the email column', () => {
    const { columns } = createRowValidator(['\uFEFF first_name ', 'EMAIL ', 'city'], []);
    expect(columns).toEqual(['first_name', 'email', 'city']);
  });

  it('finds the email column when it is first and carries the BOM', () => {
    const { columns } = createRowValidator(['\uFEFFEmail', 'name'], []);
    expect(columns).toEqual(['email', 'name']);
  });

  it.each([
    [[], 'EMPTY_FILE'],
    [[''], 'EMPTY_COLUMN_NAME'],
    [['', '  '], 'EMPTY_COLUMN_NAME'],
    [['email', ' ', 'name'], 'EMPTY_COLUMN_NAME'],
    [['name', 'city'], 'NO_EMAIL_COLUMN'],
    [['e-mail', 'name'], 'NO_EMAIL_COLUMN'],
    [['email', 'name', 'name'], 'DUPLICATE_COLUMN'],
    [['email', 'Name', 'NAME'], 'DUPLICATE_COLUMN'],
    [['Email', 'email'], 'DUPLICATE_COLUMN'],
    [['\uFEFFname', 'email', 'name'], 'DUPLICATE_COLUMN'],
  ])('rejects header %j with %s', (header, code) => {
    const error = headerError(header);
    expect(error.code).toBe(code);
    expect(error.message.length).toBeGreaterThan(0);
  });

  it('allows MAX_COLUMNS columns but not one more', () => {
    const names = ['email', ...Array.from({ length: MAX_COLUMNS - 1 }, (_, i) => `c${i}`)];
    expect(createRowValidator(names, []).columns).toHaveLength(MAX_COLUMNS);
    expect(headerError([...names, 'extra']).code).toBe('TOO_MANY_COLUMNS');
  });
});

describe('validate', () => {
  it('accepts a row, normalising the email and keeping other cells as given', () => {
    const v = createRowValidator(['email', 'first_name', 'note'], ['first_name']);
    expect(v.validate(['  Alice@Example.COM ', ' Alice ', ''])).toEqual({
      kind: 'valid',
      email: 'alice@example.com',
      data: { first_name: ' Alice ', note: '' },
    });
  });

  it('fills missing trailing cells with empty strings', () => {
    const v = createRowValidator(['name', 'email', 'city', 'zip'], []);
    expect(v.validate(['Bob', 'bob@example.com'])).toEqual({
      kind: 'valid',
      email: 'bob@example.com',
      data: { name: 'Bob', city: '', zip: '' },
    });
  });

  it('keeps a column named __proto__ as plain data', () => {
    const v = createRowValidator(['email', '__proto__'], []);
    const result = v.validate(['a@example.com', 'x']);
    if (result.kind !== 'valid') throw new Error('expected valid');
    expect(Object.getOwnPropertyDescriptor(result.data, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(result.data)).toBe(Object.prototype);
  });

  it('rejects rows longer than the header', () => {
    const v = createRowValidator(['email', 'name'], []);
    const r = rejected(v.validate(['a@example.com', 'A', 'extra']));
    expect(r.code).toBe('TOO_MANY_COLUMNS');
    expect(r.email).toBe('a@example.com');
    expect(r.message).toMatch(/3 cells.*2 columns/);
  });

  it.each([
    ['replacement character', 'Jos\uFFFD'],
    ['NUL', 'Jo\u0000se'],
  ])('rejects a cell with a %s as INVALID_ENCODING', (_label, cell) => {
    const v = createRowValidator(['email', 'name'], []);
    expect(rejected(v.validate(['a@example.com', cell])).code).toBe('INVALID_ENCODING');
  });

  it('measures cell size in UTF-8 bytes', () => {
    const v = createRowValidator(['email', 'bio'], []);
    expect(v.validate(['a@example.com', 'x'.repeat(MAX_CELL_BYTES)]).kind).toBe('valid');
    expect(rejected(v.validate(['b@example.com', 'x'.repeat(MAX_CELL_BYTES + 1)])).code).toBe('CELL_TOO_LARGE');
    // 'é' is 2 bytes, the emoji 4 bytes (2 UTF-16 units): under the limit in units, over it in bytes.
    const twoByte = 'é'.repeat(MAX_CELL_BYTES / 2);
    expect(v.validate(['c@example.com', twoByte]).kind).toBe('valid');
    const r = rejected(v.validate(['d@example.com', `${twoByte}é`]));
    expect(r.code).toBe('CELL_TOO_LARGE');
    expect(r.message).toContain('bio');
    expect(v.validate(['e@example.com', '😀'.repeat(MAX_CELL_BYTES / 4)]).kind).toBe('valid');
    expect(rejected(v.validate(['f@example.com', `${'😀'.repeat(MAX_CELL_BYTES / 4)}a`])).code).toBe('CELL_TOO_LARGE');
  });

  it('rejects an invalid or missing email', () => {
    const v = createRowValidator(['name', 'email'], []);
    const r = rejected(v.validate(['A', '  not an email  ']));
    expect(r).toMatchObject({ code: 'INVALID_EMAIL', email: 'not an email' });
    expect(rejected(v.validate(['A'])).code).toBe('INVALID_EMAIL');
  });

  it('truncates the reported raw email to 320 characters', () => {
    const v = createRowValidator(['email'], []);
    const r = rejected(v.validate([`  ${'x'.repeat(400)}  `]));
    expect(r.code).toBe('INVALID_EMAIL');
    expect(r.email).toBe('x'.repeat(320));
  });

  it('rejects rows whose required placeholders are empty, naming them', () => {
    const v = createRowValidator(['email', 'first_name', 'city'], ['first_name', 'city']);
    const r = rejected(v.validate(['a@example.com', '  ', '']));
    expect(r.code).toBe('MISSING_PLACEHOLDER');
    expect(r.message).toContain('first_name');
    expect(r.message).toContain('city');
  });

  it('rejects every row when a required placeholder has no column', () => {
    const v = createRowValidator(['email', 'name'], ['name', 'coupon']);
    const r = rejected(v.validate(['a@example.com', 'A']));
    expect(r.code).toBe('MISSING_PLACEHOLDER');
    expect(r.message).toContain('coupon');
    expect(r.message).not.toContain('name,');
  });

  it('only needs the first segment of a dotted placeholder to be a column', () => {
    const v = createRowValidator(['email', 'user'], ['user.name', 'user.address.city']);
    expect(v.validate(['a@example.com', 'x']).kind).toBe('valid');
    expect(rejected(v.validate(['b@example.com', ''])).message).toContain('user');
  });

  it('ignores placeholders the engine supplies', () => {
    const v = createRowValidator(['email'], ['email', 'unsubscribe_url', 'message_id', 'transaction_id']);
    expect(v.validate(['a@example.com']).kind).toBe('valid');
  });

  it('rejects a repeated email, compared after normalisation', () => {
    const v = createRowValidator(['email'], []);
    expect(v.validate(['a@example.com']).kind).toBe('valid');
    const r = rejected(v.validate([' A@EXAMPLE.com ']));
    expect(r).toMatchObject({ code: 'DUPLICATE', email: 'A@EXAMPLE.com' });
  });

  it('does not count rejected rows as seen', () => {
    const v = createRowValidator(['email', 'name'], ['name']);
    expect(rejected(v.validate(['a@example.com', ''])).code).toBe('MISSING_PLACEHOLDER');
    expect(v.validate(['a@example.com', 'A']).kind).toBe('valid');
    expect(rejected(v.validate(['a@example.com', 'A'])).code).toBe('DUPLICATE');
  });

  it('keeps duplicate tracking separate per validator', () => {
    const header = ['email'];
    expect(createRowValidator(header, []).validate(['a@example.com']).kind).toBe('valid');
    expect(createRowValidator(header, []).validate(['a@example.com']).kind).toBe('valid');
  });

  it('applies the checks in the documented order', () => {
    const v = createRowValidator(['email', 'name'], ['name']);
    expect(v.validate(['a@example.com', 'A']).kind).toBe('valid');
    // Too many cells wins over everything else.
    expect(rejected(v.validate(['bad', '\uFFFD', 'x'])).code).toBe('TOO_MANY_COLUMNS');
    // Encoding before size, size before email, email before placeholders, placeholders before duplicates.
    expect(rejected(v.validate(['bad', `\u0000${'x'.repeat(MAX_CELL_BYTES + 1)}`])).code).toBe('INVALID_ENCODING');
    expect(rejected(v.validate(['bad', 'x'.repeat(MAX_CELL_BYTES + 1)])).code).toBe('CELL_TOO_LARGE');
    expect(rejected(v.validate(['bad', ''])).code).toBe('INVALID_EMAIL');
    expect(rejected(v.validate(['a@example.com', ''])).code).toBe('MISSING_PLACEHOLDER');
    expect(rejected(v.validate(['a@example.com', 'A'])).code).toBe('DUPLICATE');
  });
});

describe('rows too large for one message', () => {
  it('rejects a row whose cells together pass the row limit, though each is under the cell limit', async () => {
    const { createRowValidator, MAX_ROW_BYTES, MAX_CELL_BYTES } = await import('../../src/domain/recipient-csv');
    const header = ['email', ...Array.from({ length: 8 }, (_, i) => `c${i}`)];
    const validator = createRowValidator(header, []);
    const cell = 'x'.repeat(MAX_CELL_BYTES - 1024);
    expect(cell.length * 8).toBeGreaterThan(MAX_ROW_BYTES);
    expect(validator.validate(['big@example.com', ...Array(8).fill(cell)])).toMatchObject({ kind: 'rejected', code: 'ROW_TOO_LARGE' });
    expect(validator.validate(['ok@example.com', ...Array(3).fill(cell)])).toMatchObject({ kind: 'valid' });
  });
});

describe('rows measured as DynamoDB stores them', () => {
  it('counts column names: a row under the limit in cells alone is rejected once its names are counted', async () => {
    const { createRowValidator, MAX_ROW_BYTES } = await import('../../src/domain/recipient-csv');
    // 120 KiB of column names and 140 KiB of cells: 260 KiB stored, over 256 KiB, though the cells alone pass.
    const header = ['email', ...Array.from({ length: 4 }, (_, i) => `c${i}${'n'.repeat(30 * 1024)}`)];
    const validator = createRowValidator(header, []);
    const cell = 'x'.repeat(35 * 1024);
    expect(cell.length * 4).toBeLessThan(MAX_ROW_BYTES);
    expect(validator.validate(['big@example.com', cell, cell, cell, cell])).toMatchObject({ kind: 'rejected', code: 'ROW_TOO_LARGE' });
    expect(validator.validate(['small@example.com', 'a', 'b'])).toMatchObject({ kind: 'valid' });
  });

  it("rejects the issue's file up front: 381 KB of column names fill every message on their own", async () => {
    const { createRowValidator, CsvHeaderError } = await import('../../src/domain/recipient-csv');
    const header = ['email', ...Array.from({ length: 381 }, (_, i) => `c${String(i).padStart(3, '0')}${'n'.repeat(996)}`)];
    expect(() => createRowValidator(header, [])).toThrow(CsvHeaderError);
    expect(() => createRowValidator(header, [])).toThrow(expect.objectContaining({ code: 'HEADER_TOO_LARGE' }));
  });

  it('rejects a row whose whole message item would be too large (ITEM_TOO_LARGE), and forgets its address', async () => {
    const { createRowValidator } = await import('../../src/domain/recipient-csv');
    const validator = createRowValidator(['email', 'note'], [], {
      item: { bytes: 100, size: (email, data) => email.length + (data.note ?? '').length },
    });
    expect(validator.validate(['a@example.com', 'x'.repeat(200)])).toMatchObject({ kind: 'rejected', code: 'ITEM_TOO_LARGE' });
    // Only accepted rows count for duplicates: the same address with a smaller row is fine.
    expect(validator.validate(['a@example.com', 'short'])).toMatchObject({ kind: 'valid' });
  });
});
