// Finding one recipient's rows in a recipient CSV and cutting them out byte for byte: the rest of
// the file stays exactly as uploaded. Rows are read as ingest reads them (the same parser options)
// and matched by the hash of their email cell, so the address itself is never needed. Where the
// file cannot be read as CSV, any address-like text is hashed instead.
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { unguardFormula } from '../src/domain/csv-export';
import { hashOfAddress } from '../src/domain/recipient-hash';

/** Where the recipient is in a file: rows to cut, or a match that no cut can remove (the file must go). */
export interface RecipientInFile {
  /** Byte ranges [start, end) of the recipient's records (with any empty lines before them). */
  ranges: [number, number][];
  /** The recipient's address is in a part of the file that is not a readable row. */
  unreadable: boolean;
}

// Ingest's options (activities/ingest.activities.ts), with the byte offset of every record.
const PARSE_OPTIONS = {
  bom: true,
  relax_column_count: true,
  relax_quotes: true,
  skip_empty_lines: true,
  max_record_size: 8 * 1024 * 1024,
  info: true,
} as const;
const ADDRESS_LIKE = /[^\s,;:"'<>()[\]\\]+@[^\s,;:"'<>()[\]\\]+/g;
/** Longer than any address (254), so one split across two chunks is still seen whole. */
const TOKEN_OVERLAP = 320;

/** Whether text holds an address-like token whose hash is `emailHash`. */
function mentions(text: string, emailHash: string): boolean {
  for (const [token] of text.matchAll(ADDRESS_LIKE)) if (hashOfAddress(token) === emailHash) return true;
  return false;
}

/** The email column as ingest finds it: the header name that is `email` once trimmed (BOM gone), any case. */
function emailColumn(header: string[]): number {
  return header.findIndex((name, i) => (i === 0 ? name.replace(/^\uFEFF/, '') : name).trim().toLowerCase() === 'email');
}

/** The recipient's rows in a whole file held in memory. */
export async function findRecipient(file: Buffer, emailHash: string): Promise<RecipientInFile> {
  const ranges: [number, number][] = [];
  const parser = Readable.from([file]).pipe(parse(PARSE_OPTIONS));
  let column = -1;
  let end = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { bytes: number } }>) {
      const start = end;
      end = info.bytes;
      if (column < 0) {
        column = emailColumn(record);
        // No email column: ingest refuses the file, and no row here is anyone's in particular.
        if (column < 0) return { ranges: [], unreadable: mentions(file.toString('utf8'), emailHash) };
        continue;
      }
      // A cell of the engine's own exports may carry a formula guard (`'=x@…`): hashed without it.
      if (hashOfAddress(unguardFormula(record[column] ?? '')) === emailHash) ranges.push([start, end]);
    }
  } catch {
    // Unreadable past `end` (as ingest finds it): the rest is searched as text.
    parser.destroy();
    return { ranges, unreadable: mentions(file.subarray(end).toString('utf8'), emailHash) };
  }
  return { ranges, unreadable: false };
}

/** Whether a file too large to hold in memory mentions the recipient anywhere. */
export async function streamMentions(body: Readable, emailHash: string): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let tail = '';
  try {
    for await (const chunk of body) {
      const text = tail + decoder.decode(chunk as Uint8Array, { stream: true });
      if (mentions(text, emailHash)) return true;
      tail = text.slice(-TOKEN_OVERLAP);
    }
    return mentions(tail + decoder.decode(), emailHash);
  } finally {
    body.destroy();
  }
}

/** The file without the byte ranges (sorted, not overlapping). */
export function cut(file: Buffer, ranges: [number, number][]): Buffer {
  const kept: Buffer[] = [];
  let at = 0;
  for (const [start, end] of ranges) {
    kept.push(file.subarray(at, start));
    at = end;
  }
  kept.push(file.subarray(at));
  return Buffer.concat(kept);
}
