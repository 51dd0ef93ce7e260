// CSV for exports a person opens in a spreadsheet. Pure. RFC 4180: a field with a comma, a
// double quote, CR or LF is quoted and its quotes doubled; lines end with CRLF. Formula-safe
// (OWASP, CSV injection): a spreadsheet runs a cell that starts with = + - @ TAB or CR as a
// formula, so such a cell gets a leading single quote, which shows it as text.

/** The characters that make a spreadsheet read a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** The cell as a spreadsheet should show it: text, never a formula. */
export function guardFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/**
 * A cell as it was before guardFormula put a single quote in front of its = + - @ TAB or CR: the
 * engine's own exports read back (imported, or searched by erasure) as the values they hold.
 */
export function unguardFormula(cell: string): string {
  return cell.startsWith("'") && FORMULA_START.test(cell.slice(1)) ? cell.slice(1) : cell;
}

/** One field, guarded and quoted when RFC 4180 needs it. null and undefined are empty. */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' ? String(value) : guardFormula(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One record, with its CRLF. */
export function csvLine(values: readonly (string | number | null | undefined)[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}
