// The export's CSV (src/domain/csv-export.ts) and its rows (src/domain/campaign-export.ts): any
// cells written and read back by csv-parse (an independent RFC 4180 reader) are the cells,
// a formula-looking one with its leading quote; and what each message's row says.
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csvField, csvLine, guardFormula } from '../../src/domain/csv-export';
import { EXPORT_COLUMNS, exportCells, failureCode, type ExportedMessage } from '../../src/domain/campaign-export';
import { ERASED_ADDRESS } from '../../src/domain/erasure';

/** Cells made of what CSV has to escape and what spreadsheets run, among any other text. */
const tricky = fc.constantFrom('=', '+', '-', '@', '\t', '\r', '\n', '\r\n', '"', ',', "'", ' ', 'a', 'é', '😀');
const cell = fc.oneof(fc.string({ unit: tricky, maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 12 }));

const readBack = (text: string): string[][] => parse(text) as string[][];

describe('CSV export cells', () => {
  it('round-trips any table through csv-parse, formula cells guarded and nothing else changed', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 6 })
          .chain((width) => fc.array(fc.array(cell, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 8 })),
        (rows) => {
          const text = rows.map(csvLine).join('');
          expect(readBack(text)).toEqual(rows.map((row) => row.map(guardFormula)));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never leaves a cell that a spreadsheet reads as a formula', () => {
    fc.assert(
      fc.property(fc.array(cell, { minLength: 2, maxLength: 6 }), (row) => {
        for (const back of readBack(csvLine(row))[0]!) expect(back).not.toMatch(/^[=+\-@\t\r]/);
      }),
    );
  });

  it('quotes exactly when RFC 4180 needs it and doubles quotes', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("http://x")')).toBe('"\'=HYPERLINK(""http://x"")"');
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\tcmd')).toBe("'\tcmd");
    expect(csvField('\rcmd')).toBe('"\'\rcmd"');
    expect(csvField(-3)).toBe('-3');
    expect(csvField(undefined)).toBe('');
    expect(csvLine(['a', 'b'])).toBe('a,b\r\n');
  });
});

const message = (fields: Partial<ExportedMessage> = {}): ExportedMessage => ({
  message_id: 'b00001-r000000001',
  row: 1,
  recipient_email: 'ada@example.com',
  status: 'DELIVERED',
  ...fields,
});
const column = (cells: unknown[], name: (typeof EXPORT_COLUMNS)[number]) => cells[EXPORT_COLUMNS.indexOf(name)];

describe('export rows', () => {
  it('has one cell per column, with the event times and bounce details as stored', () => {
    const cells = exportCells(
      message({
        status: 'BOUNCED',
        sent_time: '2026-01-01T00:00:00.000Z',
        bounced_time: '2026-01-01T00:00:05.000Z',
        bounce_type: 'Permanent',
        bounce_subtype: 'General',
      }),
      'COMPLETED',
    );
    expect(cells).toHaveLength(EXPORT_COLUMNS.length);
    expect(Object.fromEntries(EXPORT_COLUMNS.map((c, i) => [c, cells[i]]))).toEqual({
      message_id: 'b00001-r000000001',
      row: 1,
      email: 'ada@example.com',
      status: 'BOUNCED',
      sent_time: '2026-01-01T00:00:00.000Z',
      delivered_time: undefined,
      bounced_time: '2026-01-01T00:00:05.000Z',
      complained_time: undefined,
      opened_time: undefined,
      clicked_time: undefined,
      bounce_type: 'Permanent',
      bounce_subtype: 'General',
      failure_code: undefined,
      soft_bounced_time: undefined,
      soft_bounce_retries: undefined,
      first_sent_time: undefined,
    });
  });

  it('shows a final soft bounce with its time, the retries made and the first send time', () => {
    const cells = exportCells(
      message({
        status: 'BOUNCED',
        sent_time: '2026-01-01T01:00:00.000Z',
        first_sent_time: '2026-01-01T00:00:00.000Z',
        soft_bounced_time: '2026-01-01T01:00:05.000Z',
        soft_bounce_retries: 1,
        bounce_type: 'Transient',
      }),
      'COMPLETED',
    );
    expect(column(cells, 'soft_bounced_time')).toBe('2026-01-01T01:00:05.000Z');
    expect(column(cells, 'soft_bounce_retries')).toBe(1);
    expect(column(cells, 'first_sent_time')).toBe('2026-01-01T00:00:00.000Z');
    expect(column(cells, 'bounced_time')).toBeUndefined();
  });

  it('shows an erased recipient as the erased marker, never an address', () => {
    expect(
      column(exportCells(message({ erased_at: '2026-01-02T00:00:00Z', recipient_email: 'ada@example.com' }), 'COMPLETED'), 'email'),
    ).toBe(ERASED_ADDRESS);
    expect(column(exportCells(message({ recipient_email: ERASED_ADDRESS }), 'COMPLETED'), 'email')).toBe(ERASED_ADDRESS);
  });

  it('shows a message not yet picked up in the state its campaign puts it in', () => {
    expect(column(exportCells(message({ status: 'CREATED' }), 'PAUSED'), 'status')).toBe('READY_TO_SEND');
    expect(column(exportCells(message({ status: 'CREATED' }), 'CANCELLED'), 'status')).toBe('CANCELLED');
  });

  it('names why a message failed: its stored code, the send path’s history code, else the SES event', () => {
    expect(failureCode(message({ status: 'FAILED', failure_code: 'ITEM_TOO_LARGE' }))).toBe('ITEM_TOO_LARGE');
    const history = [
      { status: 'SENDING', metadata: { attempt: 't1' } },
      { status: 'FAILED', metadata: { code: 'RENDER_TOO_LARGE', reason: 'too big' } },
    ];
    expect(failureCode(message({ status: 'FAILED', status_history: history }))).toBe('RENDER_TOO_LARGE');
    expect(failureCode(message({ status: 'FAILED', rejected_time: '2026-01-01T00:00:00Z', status_history: [] }))).toBe('SES_REJECTED');
    expect(failureCode(message({ status: 'FAILED', rendering_failed_time: '2026-01-01T00:00:00Z' }))).toBe('SES_RENDERING_FAILURE');
    expect(column(exportCells(message({ status: 'DELIVERED', status_history: history }), 'COMPLETED'), 'failure_code')).toBeUndefined();
  });
});
