// The Temporal UI texts (issue 16, item 6): pure functions the workflows and the API share.
import { describe, expect, it } from 'vitest';
import { emptyTally } from '../../src/contracts';
import {
  batchRange,
  capBytes,
  chunkSummary,
  count,
  plain,
  transactionCurrentDetails,
  transactionSummary,
} from '../../src/contracts/ui-text';

describe('Temporal UI texts', () => {
  it('groups thousands without Intl', () => {
    expect([0, 999, 1000, 12345, 1234567].map(count)).toEqual(['0', '999', '1,000', '12,345', '1,234,567']);
  });

  it('escapes what markdown would act on and cuts long names', () => {
    expect(plain('**big** _sale_ [x](y) `z` <b>')).toBe('\\*\\*big\\*\\* \\_sale\\_ \\[x\\]\\(y\\) \\`z\\` \\<b\\>');
    // No link, entity or strike-through can come from a name: every ASCII punctuation mark is escaped.
    expect(plain('see https://evil.example ~~x~~ &amp; !')).toBe('see https\\:\\/\\/evil\\.example \\~\\~x\\~\\~ \\&amp\\; \\!');
    expect(plain('a'.repeat(100), 10)).toBe(`${'a'.repeat(9)}…`);
  });

  it('keeps every summary within the 200 bytes Temporal allows, cut at a code point', () => {
    const c = {
      transactionId: 'T1',
      tenantId: 'acme',
      templateId: 'tpl',
      name: '日本語のキャンペーン🎉'.repeat(8),
      tags: Array.from({ length: 10 }, (_, i) => `tag_${i}_${'x'.repeat(56)}`),
    };
    const summary = transactionSummary(c);
    expect(Buffer.byteLength(summary, 'utf8')).toBeLessThanOrEqual(200);
    expect(summary.endsWith('…')).toBe(true);
    expect(summary).not.toMatch(/\uFFFD/);
    expect(capBytes('short')).toBe('short');
    // An escape is never cut in half.
    expect(capBytes(`${'a'.repeat(196)}\\_bbb`, 200)).toBe(`${'a'.repeat(196)}…`);
  });

  it('names an unnamed campaign by its transaction id', () => {
    expect(transactionSummary({ transactionId: 'T1', tenantId: 'acme', templateId: 'tpl' })).toBe('Campaign T1 (unnamed) · tenant acme');
  });

  it('gives each batch its slice of the valid rows, the last one short', () => {
    expect([1, 2, 3].map((n) => batchRange(n, 1000, 2500))).toEqual([
      { first: 1, last: 1000 },
      { first: 1001, last: 2000 },
      { first: 2001, last: 2500 },
    ]);
  });

  it('summarises a chunk within the batch, and the read past its last message', () => {
    expect(chunkSummary('b00001', 1, 50, 120)).toBe('send b00001 messages 1–50');
    expect(chunkSummary('b00001', 101, 50, 120)).toBe('send b00001 messages 101–120');
    expect(chunkSummary('b00001', 151, 50, 120)).toBe('send b00001: after its last message, nothing left expected');
    expect(chunkSummary('b00001', 51, 50, undefined, true)).toBe('send b00001 messages 51–100 (again, after the grace)');
  });

  it('shows status, sent of total, batches and the outcomes seen so far', () => {
    const totals = { ...emptyTally(), total: 2000, sent: 1990, failed: 10, delivered: 1500, bounced: 3 };
    const progress = {
      status: 'READY_TO_SEND' as const,
      paused: true,
      batchCount: 3,
      batchesStarted: 3,
      batchesSent: 2,
      batchesCompleted: 1,
      totals,
    };
    expect(transactionCurrentDetails(progress, 2500)).toBe(
      '**READY_TO_SEND (pause requested)** · sent 1,990 of 2,500 · batches 3/3 started, 2 sent, 1 completed · 10 failed · 1,500 delivered · 3 bounced',
    );
    expect(transactionCurrentDetails({ ...progress, status: 'PROCESSING', paused: false, batchCount: 0, totals: emptyTally() }, 0)).toBe(
      '**PROCESSING**',
    );
  });
});
