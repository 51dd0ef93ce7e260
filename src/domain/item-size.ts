// The size of a DynamoDB item as DynamoDB counts it against its 400 KB item limit (and bills
// it), for values as the document client marshals them (string → S, number → N, boolean →
// BOOL, null → NULL, array → L, object → M, Set → SS/NS/BS, Uint8Array → B; undefined left
// out). Pure, so the CSV validator and the adapters share it:
// - an attribute is its name's UTF-8 bytes plus its value;
// - a string is its UTF-8 bytes, a binary its raw bytes, a boolean or null 1 byte;
// - a number is 1 byte per pair of digits (pairs aligned on the decimal point, zero pairs at
//   either end trimmed), plus 1, plus 1 more when negative; zero is 1 byte;
// - a list or map is 3 bytes, plus for each element 1 byte and the element (a map's element
//   includes its key's UTF-8 bytes); a set is the sum of its elements.
// Checked byte for byte against DynamoDB Local's limit (test/integration/item-size.test.ts).

/** DynamoDB's item size limit, in bytes (400 KB). */
export const DYNAMODB_ITEM_LIMIT = 400 * 1024;

/**
 * The most a message item can grow after ingest: its status_history keeps at most 32 entries of
 * at most 1 KiB (32 KiB), the strings SES events write onto it are cut to 1 KiB (about 20 fields
 * over every event kind, each applied once: ~21 KiB), the send path's fields to 2 KiB (~4 KiB);
 * 80 KiB leaves room beyond those ~57 KiB.
 */
export const MESSAGE_GROWTH_RESERVE = 80 * 1024;
/** The largest message item ingest writes (320 KiB): it can then never pass the item limit. */
export const MAX_MESSAGE_ITEM_BYTES = DYNAMODB_ITEM_LIMIT - MESSAGE_GROWTH_RESERVE;

/** UTF-8 length of a string, counted without Buffer (this module is used by pure code). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * A number's size: DynamoDB stores base-100 digits aligned on the decimal point (pairs of
 * decimal digits), without leading or trailing zero pairs, plus one byte (and one more when
 * negative); zero is one byte. (100.001 is 01 00 . 00 10: 4 pairs, 5 bytes.)
 */
function numberSize(value: number | bigint): number {
  const text = typeof value === 'bigint' ? value.toString() : numberText(value);
  const negative = text.startsWith('-');
  const [int = '', frac = ''] = text.replace(/^-/, '').split('.');
  const digits = (int.length % 2 ? '0' : '') + int + frac + (frac.length % 2 ? '0' : '');
  const pairs = digits.match(/../g) ?? [];
  let start = 0;
  let end = pairs.length;
  while (start < end && pairs[start] === '00') start++;
  while (end > start && pairs[end - 1] === '00') end--;
  if (start === end) return 1;
  return end - start + 1 + (negative ? 1 : 0);
}

/** A number written out without an exponent (1e-7 → 0.0000001), as its digits are what is stored. */
function numberText(value: number): string {
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, lead, frac = '', exp] = match;
  const e = Number(exp);
  const digits = lead! + frac;
  return e < 0 ? `${sign}0.${'0'.repeat(-e - 1)}${digits}` : `${sign}${digits}${'0'.repeat(Math.max(0, e - frac.length))}`;
}

/** The size of a value (without any attribute name). */
export function valueSize(value: unknown): number {
  if (value === null) return 1;
  switch (typeof value) {
    case 'string':
      return utf8Length(value);
    case 'number':
    case 'bigint':
      return numberSize(value);
    case 'boolean':
      return 1;
    case 'object':
      break;
    default:
      return 0;
  }
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) {
    let size = 0;
    for (const element of value) size += valueSize(element);
    return size;
  }
  if (Array.isArray(value)) {
    let size = 3;
    for (const element of value) if (element !== undefined) size += 1 + valueSize(element);
    return size;
  }
  let size = 3;
  for (const [key, element] of Object.entries(value as Record<string, unknown>)) {
    if (element !== undefined) size += 1 + utf8Length(key) + valueSize(element);
  }
  return size;
}

/** The size of one attribute: its name and its value. */
export function attributeSize(name: string, value: unknown): number {
  return value === undefined ? 0 : utf8Length(name) + valueSize(value);
}

/** The size of an item: every attribute's name and value (keys included). */
export function itemSize(item: Record<string, unknown>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += attributeSize(name, value);
  return size;
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || utf8Length(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const pair = unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1));
    const width = unit < 0x80 ? 1 : unit < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + width > maxBytes) break;
    bytes += width;
    end = pair ? i + 2 : i + 1;
    if (pair) i++;
  }
  return text.slice(0, end);
}

/** `value` with every string in it (nested ones too) cut to `maxBytes`; other values as they are. */
export function boundStrings<T>(value: T, maxBytes: number): T {
  if (typeof value === 'string') return truncateUtf8(value, maxBytes) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => boundStrings(v, maxBytes)) as T;
  if (value && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof Set)) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, boundStrings(v, maxBytes)])) as T;
  }
  return value;
}
