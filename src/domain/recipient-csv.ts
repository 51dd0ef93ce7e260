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
  | 'EMPTY_FILE'
  | 'NO_EMAIL_COLUMN'
  | 'DUPLICATE_COLUMN'
  | 'EMPTY_COLUMN_NAME'
  | 'TOO_MANY_COLUMNS'
  | 'HEADER_TOO_LARGE'
  /** A dotted variable of the template has no column of its name, or a text column stands in its way. */
  | 'MISSING_COLUMNS';

export class CsvHeaderError extends Error {
  constructor(
    readonly code: CsvHeaderErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'CsvHeaderError';
  }
}

/**
 * What a template needs of every row, as its confirm found it: column paths that must be present
 * and non-blank, and ones the template can do without (see template-placeholders.ts).
 */
export interface ColumnRules {
  required: string[];
  optional: string[];
}

/** The placeholder lists a confirmed template stores. */
export interface TemplatePlaceholders {
  placeholders?: string[];
  required_placeholders?: string[];
  optional_placeholders?: string[];
}

/**
 * The rules for a template's rows. A template confirmed before required and optional placeholders
 * were told apart has only `placeholders` (top-level names): as when it was confirmed, every one
 * of them is required, and only its first segment must be a column (a bare array, for
 * createRowValidator).
 */
export function columnRulesOf(template: TemplatePlaceholders): ColumnRules | string[] {
  if (template.required_placeholders === undefined) return template.placeholders ?? [];
  return { required: template.required_placeholders, optional: template.optional_placeholders ?? [] };
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
  | 'ITEM_INVALID'
  /** Issue 17, item 4: the recipient's zone (recipient_time_zone_column) is not in the zone database. */
  | 'INVALID_TIME_ZONE';

export type RowResult =
  | { kind: 'valid'; email: string; data: Record<string, string> }
  /** `missing`: the placeholders a MISSING_PLACEHOLDER row left blank or out (a preview names them). */
  | { kind: 'rejected'; code: RejectCode; message: string; email: string; missing?: string[] };

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

/**
 * `rules` are the template's (columnRulesOf); a bare array is a template confirmed before rules,
 * whose every placeholder is required by its first segment.
 */
export function createRowValidator(header: string[], rules: ColumnRules | string[], options: RowValidatorOptions = {}): RowValidator {
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

  if (!Array.isArray(rules)) checkDottedPaths(columns, rules);
  const requiredNames = Array.isArray(rules) ? rules.map(rootName) : rules.required;
  const required = [...new Set(requiredNames)].filter((name) => name.length > 0 && !RESERVED_PLACEHOLDERS.has(name));
  // A (flat) placeholder with no column can never be satisfied; it still rejects row by row so
  // the caller gets one uniform report rather than a header failure it cannot act on.
  const absent = required.filter((name) => !columnIndex.has(name));
  const present = required.filter((name) => columnIndex.has(name));

  // Only accepted rows are remembered, so a rejected first occurrence does not make a
  // later, valid occurrence look like a duplicate.
  const seen = new Set<string>();

  function validate(row: string[]): RowResult {
    const rawEmail = (row[emailIndex] ?? '').trim().slice(0, MAX_REPORTED_EMAIL_LENGTH);
    const reject = (code: RejectCode, message: string, missing?: string[]): RowResult => ({
      kind: 'rejected',
      code,
      message,
      email: rawEmail,
      ...(missing ? { missing } : {}),
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
      return reject('MISSING_PLACEHOLDER', `Missing value for ${noun}: ${missing.join(', ')}.`, missing);
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

/**
 * A dotted variable reads the column of its full name ("user.name"), which the render data nests;
 * a column named like one of its prefixes ("user", or the engine's "email") holds text and stands
 * in the way. Either mistake would fail every message at send, so the file is refused up front.
 */
function checkDottedPaths(columns: string[], rules: ColumnRules): void {
  const present = new Set(columns);
  const text = new Set([...columns, ...RESERVED_PLACEHOLDERS]);
  const required = new Set(rules.required);
  const problems: string[] = [];
  const variables: string[] = [];
  for (const path of [...new Set([...rules.required, ...rules.optional])].sort()) {
    const segments = path.split('.');
    if (segments.length < 2) continue;
    const blocker = segments.map((_, n) => segments.slice(0, n).join('.')).find((prefix) => prefix !== '' && text.has(prefix));
    if (blocker !== undefined) {
      const holder = RESERVED_PLACEHOLDERS.has(blocker) ? `"${blocker}" is text the engine supplies` : `the column "${blocker}" holds text`;
      problems.push(`"${path}" (${holder}, which has no fields)`);
    } else if (required.has(path) && !present.has(path)) {
      problems.push(`"${path}" (no column of that name)`);
    } else {
      continue;
    }
    variables.push(path);
  }
  if (problems.length === 0) return;
  throw new CsvHeaderError(
    'MISSING_COLUMNS',
    `The file cannot supply the template's ${problems.length === 1 ? 'variable' : 'variables'} ${problems.join(', ')}. ` +
      'A dotted variable reads the column named exactly like it, dots included (e.g. a column "user.name" for {{ user.name }}).',
    { variables },
  );
}

// Templates confirmed before rules may reference `user.name` or `items[0]`; only the root must be a column.
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
