// Validation of recipient CSV rows once a CSV parser has split them into cells: header
// checks up front, then one verdict per row (valid with its merge data, or rejected why).
import { normalizeEmail } from './email-address';
import { attributeSize, utf8Length } from './item-size';

export const MAX_COLUMNS = 1000;
export const MAX_CELL_BYTES = 64 * 1024;
/**
 * A message is one DynamoDB item (400 KB at most) holding the whole row plus its history. A row
 * is measured as it is stored there: every column name (a key of the item's `placeholder_data`
 * map, empty cells included) and every cell, with DynamoDB's map overheads, plus the address.
 */
export const MAX_ROW_BYTES = 256 * 1024;

// Long enough for any plausible address, short enough to keep reject reports bounded.
const MAX_REPORTED_EMAIL_LENGTH = 320;

// Supplied by the engine at send time, so the CSV need not (and should not) provide them.
const RESERVED_PLACEHOLDERS: ReadonlySet<string> = new Set(['email', 'unsubscribe_url', 'message_id', 'transaction_id']);

export type CsvHeaderErrorCode =
  'EMPTY_FILE' | 'NO_EMAIL_COLUMN' | 'DUPLICATE_COLUMN' | 'EMPTY_COLUMN_NAME' | 'TOO_MANY_COLUMNS' | 'HEADER_TOO_LARGE';

export class CsvHeaderError extends Error {
  constructor(
    readonly code: CsvHeaderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CsvHeaderError';
  }
}

export type RejectCode =
  | 'INVALID_EMAIL'
  | 'DUPLICATE'
  | 'MISSING_PLACEHOLDER'
  | 'TOO_MANY_COLUMNS'
  | 'INVALID_ENCODING'
  | 'CELL_TOO_LARGE'
  | 'ROW_TOO_LARGE'
  /** The message item would not fit DynamoDB's item limit with room to grow (or DynamoDB refused it). */
  | 'ITEM_TOO_LARGE'
  /** DynamoDB refused the message item as invalid when it was written. */
  | 'ITEM_INVALID';

export type RowResult =
  { kind: 'valid'; email: string; data: Record<string, string> } | { kind: 'rejected'; code: RejectCode; message: string; email: string };

export interface RowValidator {
  columns: string[];
  validate(row: string[]): RowResult;
}

export interface RowValidatorOptions {
  /**
   * The whole message item a valid row becomes must stay within `bytes` (DynamoDB's item limit
   * less what the message may still grow by); `size` measures the item the row would be.
   */
  item?: { bytes: number; size: (email: string, data: Record<string, string>) => number };
}

export function createRowValidator(header: string[], requiredPlaceholders: string[], options: RowValidatorOptions = {}): RowValidator {
  const columns = normalizeHeader(header);
  const emailIndex = columns.indexOf('email');
  const columnIndex = new Map(columns.map((name, index) => [name, index]));
  // Every row stores every column name: names that fill a message on their own reject the file.
  const headerBytes = storedRowBytes(Object.fromEntries(columns.filter((_, i) => i !== emailIndex).map((name) => [name, ''])), '');
  if (headerBytes > MAX_ROW_BYTES) {
    throw new CsvHeaderError(
      'HEADER_TOO_LARGE',
      `The column names take ${Math.ceil(headerBytes / 1024)} KiB in every message; at most ${MAX_ROW_BYTES / 1024} KiB are allowed for a row.`,
    );
  }

  const required = [...new Set(requiredPlaceholders.map(rootName))].filter((name) => name.length > 0 && !RESERVED_PLACEHOLDERS.has(name));
  // A placeholder with no column can never be satisfied; it still rejects row by row so
  // the caller gets one uniform report rather than a header failure it cannot act on.
  const absent = required.filter((name) => !columnIndex.has(name));
  const present = required.filter((name) => columnIndex.has(name));

  // Only accepted rows are remembered, so a rejected first occurrence does not make a
  // later, valid occurrence look like a duplicate.
  const seen = new Set<string>();

  function validate(row: string[]): RowResult {
    const rawEmail = (row[emailIndex] ?? '').trim().slice(0, MAX_REPORTED_EMAIL_LENGTH);
    const reject = (code: RejectCode, message: string): RowResult => ({
      kind: 'rejected',
      code,
      message,
      email: rawEmail,
    });

    if (row.length > columns.length) {
      return reject('TOO_MANY_COLUMNS', `Row has ${row.length} cells but the header has only ${columns.length} columns.`);
    }
    if (row.some(hasBadEncoding)) {
      return reject('INVALID_ENCODING', 'Row contains bytes that are not valid UTF-8, or a NUL character.');
    }
    const oversized = row.findIndex(isCellTooLarge);
    if (oversized >= 0) {
      return reject('CELL_TOO_LARGE', `Column "${columns[oversized] ?? ''}" is larger than ${MAX_CELL_BYTES / 1024} KiB.`);
    }

    // fromEntries defines own properties, so a column named "__proto__" stays plain data.
    const data = Object.fromEntries(columns.flatMap((name, index) => (index === emailIndex ? [] : [[name, row[index] ?? '']]))) as Record<
      string,
      string
    >;
    if (storedRowBytes(data, row[emailIndex] ?? '') > MAX_ROW_BYTES) {
      return reject('ROW_TOO_LARGE', `Row is larger than ${MAX_ROW_BYTES / 1024} KiB in all, column names included.`);
    }

    const email = normalizeEmail(row[emailIndex] ?? '');
    if (email === null) {
      return reject('INVALID_EMAIL', 'Email address is not valid.');
    }

    const missing = [...absent, ...present.filter((name) => (row[columnIndex.get(name) ?? -1] ?? '').trim() === '')];
    if (missing.length > 0) {
      const noun = missing.length === 1 ? 'placeholder' : 'placeholders';
      return reject('MISSING_PLACEHOLDER', `Missing value for ${noun}: ${missing.join(', ')}.`);
    }

    if (seen.has(email)) {
      return reject('DUPLICATE', 'Email address appears earlier in the file.');
    }
    if (options.item) {
      const bytes = options.item.size(email, data);
      if (bytes > options.item.bytes) {
        return reject(
          'ITEM_TOO_LARGE',
          `The row's message would take ${Math.ceil(bytes / 1024)} KiB in DynamoDB; at most ${Math.floor(options.item.bytes / 1024)} KiB are allowed.`,
        );
      }
    }
    seen.add(email);
    return { kind: 'valid', email, data };
  }

  return { columns, validate };
}

function normalizeHeader(header: string[]): string[] {
  if (header.length === 0) {
    throw new CsvHeaderError('EMPTY_FILE', 'The file is empty: there is no header row.');
  }
  if (header.length > MAX_COLUMNS) {
    throw new CsvHeaderError('TOO_MANY_COLUMNS', `The header has ${header.length} columns; at most ${MAX_COLUMNS} are allowed.`);
  }

  // Spreadsheet exports often start with a UTF-8 BOM, which would otherwise become part
  // of the first column's name.
  const names = header.map((name, index) => (index === 0 ? name.replace(/^\uFEFF/, '') : name).trim());

  const emptyAt = names.findIndex((name) => name === '');
  if (emptyAt >= 0) {
    throw new CsvHeaderError('EMPTY_COLUMN_NAME', `Column ${emptyAt + 1} of the header has no name.`);
  }

  // Case-insensitive because "Email" and "email" would collide once the email column is
  // renamed, and near-identical names are almost always a mistake.
  const firstSeen = new Map<string, string>();
  for (const name of names) {
    const key = name.toLowerCase();
    const previous = firstSeen.get(key);
    if (previous !== undefined) {
      throw new CsvHeaderError(
        'DUPLICATE_COLUMN',
        previous === name
          ? `Column "${name}" appears more than once in the header.`
          : `Columns "${previous}" and "${name}" differ only in case.`,
      );
    }
    firstSeen.set(key, name);
  }

  const emailIndex = names.findIndex((name) => name.toLowerCase() === 'email');
  if (emailIndex < 0) {
    throw new CsvHeaderError('NO_EMAIL_COLUMN', 'The header has no "email" column.');
  }
  names[emailIndex] = 'email';
  return names;
}

// Templates may reference `user.name` or `items[0]`; only the root must be a column.
function rootName(placeholder: string): string {
  return (placeholder.split(/[.[]/, 1)[0] ?? '').trim();
}

// U+FFFD is what a non-fatal UTF-8 decoder substitutes for malformed bytes; NUL breaks
// downstream storage and is never legitimate in a recipient list.
function hasBadEncoding(cell: string): boolean {
  return cell.includes('\uFFFD') || cell.includes('\u0000');
}

function isCellTooLarge(cell: string): boolean {
  // Every UTF-16 unit encodes to 1..3 bytes, so most cells are settled without a scan.
  if (cell.length > MAX_CELL_BYTES) return true;
  if (cell.length * 3 <= MAX_CELL_BYTES) return false;
  return utf8Length(cell) > MAX_CELL_BYTES;
}

/** What a row takes in its message item: the `placeholder_data` map (names and cells) and the address. */
function storedRowBytes(data: Record<string, string>, email: string): number {
  return attributeSize('placeholder_data', data) + attributeSize('recipient_email', email);
}
