// What the Temporal UI (and `temporal workflow describe`) shows of a campaign (issue 16, item 6):
// the static summary and details of a transaction's and a batch's workflow (user metadata, set
// once at start), their current details (kept up to date from inside the workflow), and the
// summaries of the timers and activities an operator wants to tell apart in the event history.
// Pure, deterministic text (no Intl, no clock): safe to call from workflows.
import type { BatchTally, Throttle, TransactionProgress } from './index';

/** 12345 → "12,345" (no Intl: the same in a workflow sandbox and in Node). */
export const count = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * A tenant's label as Temporal markdown text, long ones cut. Every ASCII punctuation character is
 * escaped (CommonMark allows it for all of them), so a campaign name can neither format the
 * operator's view nor become a link there (`https://…`, `[x](y)`, `<b>`, `~~`, `&amp;`).
 */
export function plain(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return cut.replace(/[!-/:-@[-`{-~]/g, '\\$&');
}

/** A tag as markdown: tags are `[A-Za-z0-9_.:-]` (campaign-labels), of which only `_` could format. */
const tagText = (tag: string) => tag.replace(/_/g, '\\_');

/** UTF-8 bytes of one code point (no TextEncoder needed in the workflow sandbox). */
const utf8Bytes = (codePoint: number) => (codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4);

/** Temporal documents at most 200 bytes for a summary: cut at a code point, marked with `…`. */
export const SUMMARY_MAX_BYTES = 200;

export function capBytes(text: string, max = SUMMARY_MAX_BYTES): string {
  const sizes = [...text].map((ch) => utf8Bytes(ch.codePointAt(0)!));
  if (sizes.reduce((a, b) => a + b, 0) <= max) return text;
  let bytes = 0;
  let out = '';
  for (const [i, ch] of [...text].entries()) {
    // Room is kept for the 3 bytes of the ellipsis.
    if (bytes + sizes[i]! > max - 3) break;
    bytes += sizes[i]!;
    out += ch;
  }
  // An escape cut in half would escape the ellipsis.
  return `${out.replace(/(^|[^\\])\\$/, '$1')}…`;
}

export interface CampaignText {
  transactionId: string;
  tenantId: string;
  templateId: string;
  name?: string;
  tags?: string[];
  sendAt?: string;
  throttle?: Throttle;
  templateVersion?: number;
  fileId?: string;
  fileBytes?: number;
}

const campaignLabel = (c: Pick<CampaignText, 'name' | 'transactionId'>) =>
  c.name !== undefined ? `"${plain(c.name)}"` : `${c.transactionId} (unnamed)`;

/** One line: which campaign of which tenant. */
export function transactionSummary(c: CampaignText): string {
  const tags = c.tags?.length ? ` · tags ${c.tags.map(tagText).join(', ')}` : '';
  return capBytes(`Campaign ${campaignLabel(c)} · tenant ${c.tenantId}${tags}`);
}

const throttleText = (t: Throttle | undefined) => {
  const parts = [
    t?.emails_per_minute !== undefined ? `${count(t.emails_per_minute)}/min` : undefined,
    t?.emails_per_hour !== undefined ? `${count(t.emails_per_hour)}/h` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length ? parts.join(', ') : 'none (platform rate)';
};

/** Markdown lines: the campaign's fixed facts. */
export function transactionDetails(c: CampaignText): string {
  const version = c.templateVersion !== undefined ? ` (version ${c.templateVersion})` : '';
  return [
    `**Campaign** ${c.name !== undefined ? plain(c.name, 200) : '(no name)'}`,
    `**Transaction** ${c.transactionId}`,
    `**Tenant** ${c.tenantId}`,
    `**Template** ${c.templateId}${version}`,
    `**Tags** ${c.tags?.length ? c.tags.map(tagText).join(', ') : '(none)'}`,
    `**Send at** ${c.sendAt ?? 'at once'}`,
    `**Throttle** ${throttleText(c.throttle)}`,
    ...(c.fileId !== undefined
      ? [`**Recipient file** ${c.fileId}${c.fileBytes !== undefined ? ` (${count(c.fileBytes)} bytes)` : ''}`]
      : []),
  ].join('\n');
}

const outcomes = (t: BatchTally) =>
  (
    [
      ['failed', t.failed],
      ['suppressed', t.suppressed],
      ['cancelled', t.cancelled],
      ['delivered', t.delivered],
      ['bounced', t.bounced],
      ['complained', t.complained],
    ] as const
  )
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${count(n)} ${what}`);

/** One line, updated as the campaign moves: status, sent of total, the batches, the outcomes so far. */
export function transactionCurrentDetails(p: TransactionProgress, totalMessages: number): string {
  const status = p.paused && p.status !== 'PAUSED' ? `${p.status} (pause requested)` : p.status;
  const parts = [`**${status}**`];
  if (p.status === 'SCHEDULED' && p.sendAt) parts.push(`sends at ${p.sendAt}`);
  if (p.batchCount > 0) {
    parts.push(`sent ${count(p.totals.sent)} of ${count(totalMessages)}`);
    parts.push(`batches ${p.batchesStarted}/${p.batchCount} started, ${p.batchesSent} sent, ${p.batchesCompleted} completed`);
  }
  parts.push(...outcomes(p.totals));
  return parts.join(' · ');
}

/** The recipients of batch `n` by position among the file's valid rows (1-based, inclusive). */
export function batchRange(batchNumber: number, batchSize: number, totalMessages: number): { first: number; last: number } {
  const first = (batchNumber - 1) * batchSize + 1;
  return { first, last: Math.max(first, Math.min(batchNumber * batchSize, totalMessages)) };
}

export interface BatchText {
  transactionId: string;
  tenantId: string;
  name?: string;
  batchNumber: number;
  batchId: string;
  batchCount: number;
  first: number;
  last: number;
  totalMessages: number;
  chunkSize: number;
  chunkIntervalMs: number;
}

/** One line: which slice of which campaign. */
export function batchSummary(b: BatchText): string {
  return capBytes(
    `Batch ${b.batchNumber} of ${b.batchCount} · recipients ${count(b.first)}–${count(b.last)} of ${count(b.totalMessages)} · campaign ${campaignLabel(b)}`,
  );
}

export function batchDetails(b: BatchText): string {
  return [
    `**Campaign** ${b.name !== undefined ? plain(b.name, 200) : '(no name)'}`,
    `**Transaction** ${b.transactionId}`,
    `**Tenant** ${b.tenantId}`,
    `**Batch** ${b.batchId} (${b.batchNumber} of ${b.batchCount})`,
    `**Recipients** ${count(b.first)}–${count(b.last)} (positions among the file's valid rows)`,
    `**Send chunks** up to ${count(b.chunkSize)} message${b.chunkSize === 1 ? '' : 's'} each${b.chunkIntervalMs > 0 ? `, one every ${count(b.chunkIntervalMs)} ms` : ''}`,
  ].join('\n');
}

/**
 * A send chunk's activity: the positions in the batch (1-based) of the messages it reads, from
 * `first`, at most `size`, within the batch's `messageCount` when known (a chunk past the last
 * message is the read that finds nothing left).
 */
export function chunkSummary(batchId: string, first: number, size: number, messageCount?: number, again = false): string {
  const suffix = again ? ' (again, after the grace)' : '';
  if (messageCount !== undefined && first > messageCount) return `send ${batchId}: after its last message, nothing left expected${suffix}`;
  const last = Math.min(first + size - 1, messageCount ?? Infinity);
  return `send ${batchId} messages ${count(first)}–${count(last)}${suffix}`;
}
