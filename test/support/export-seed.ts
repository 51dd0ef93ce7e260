// A sent campaign written straight into DynamoDB for the export tests and benchmark: its
// transaction record (COMPLETED, with its batch count) and its messages, batch by batch through
// the engine's own writer, in every state an export shows (delivered, clicked, bounced, failed
// with a code, suppressed, erased, an address a spreadsheet would run), with row data and a
// status history as ingest and the send path leave them. Written a slice at a time, so seeding
// a large campaign holds only one slice in memory.
import { messageIdFor } from '../../src/adapters/dynamo/keys';
import type { Tables } from '../../src/adapters/dynamo/tables';
import type { HistoryEntry, MessageRecord } from '../../src/adapters/dynamo/types';
import type { MessageStatus } from '../../src/domain/message-status';
import { batchId } from '../../src/contracts';
import { ERASED_ADDRESS } from '../../src/domain/erasure';

const SLICE = 5000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (i: number, s: number) => new Date(T0 + i * 1000 + s * 1000).toISOString();

/** Message `i` (from 0) of the seeded campaign, as the table holds it. */
export function seededMessage(transactionId: string, tenantId: string, i: number, batchSize: number, tag: string) {
  const row = i + 1;
  const batch = batchId(Math.floor(i / batchSize) + 1);
  const kind = i % 7;
  const email = kind === 6 ? `=cmd-${i}-${tag}@example.com` : `r${i}-${tag}@example.com`;
  const history: HistoryEntry<MessageStatus>[] = [
    { status: 'CREATED', timestamp: at(i, 0) },
    { status: 'SENDING', timestamp: at(i, 1), metadata: { attempt: 'seed' } },
  ];
  const base: MessageRecord & Record<string, unknown> = {
    message_id: messageIdFor(batch, row),
    batch_id: batch,
    transaction_id: transactionId,
    tenant_id: tenantId,
    row,
    recipient_email: email,
    placeholder_data: { email, first_name: `Reader ${i}`, city: 'Paris' },
    status: 'SENT',
    status_history: history,
    created_at: at(i, 0),
    updated_at: at(i, 5),
  };
  const sent = { sent_time: at(i, 2), send_event_time: at(i, 2), ses_message_id: `ses-${tag}-${i}` };
  switch (kind) {
    case 0:
    case 6:
      return { ...base, ...sent, status: 'DELIVERED' as const, delivered_time: at(i, 3), smtp_response: '250 2.0.0 OK' };
    case 1:
      return { ...base, ...sent, status: 'CLICKED' as const, delivered_time: at(i, 3), opened_time: at(i, 4), clicked_time: at(i, 5) };
    case 2:
      return { ...base, ...sent, status: 'BOUNCED' as const, bounced_time: at(i, 3), bounce_type: 'Permanent', bounce_subtype: 'General' };
    case 3:
      return {
        ...base,
        status: 'FAILED' as const,
        failure_reason: 'from: not a verified identity',
        status_history: [...history, { status: 'FAILED', timestamp: at(i, 2), metadata: { code: 'SENDER_NOT_AUTHORISED' } }],
      };
    case 4:
      return { ...base, status: 'SUPPRESSED' as const, status_history: history.slice(0, 1) };
    default: {
      // As erasure leaves a delivered message: the marker for the address, no row data.
      const { placeholder_data: _data, ...kept } = base;
      return {
        ...kept,
        ...sent,
        status: 'DELIVERED' as const,
        delivered_time: at(i, 3),
        recipient_email: ERASED_ADDRESS,
        erased_at: at(i, 9),
      };
    }
  }
}

export async function seedSentCampaign(
  tables: Pick<Tables, 'store' | 'messages' | 'writer'>,
  opts: { tenantId: string; messages: number; batchSize: number; tag: string; progress?: (written: number) => void },
): Promise<{ transactionId: string; batchCount: number }> {
  const transactionId = `txn-${opts.tag}`;
  await tables.store.createTransaction({
    transaction_id: transactionId,
    tenant_id: opts.tenantId,
    template_id: 'tpl-seed',
    file_id: 'file-seed',
  });
  for (let start = 0; start < opts.messages; start += SLICE) {
    const items = [];
    for (let i = start; i < Math.min(opts.messages, start + SLICE); i++) {
      items.push(tables.messages.messageItem(seededMessage(transactionId, opts.tenantId, i, opts.batchSize, opts.tag) as MessageRecord));
    }
    const refused = await tables.writer.writeAll(items, 8);
    if (refused.length > 0) throw new Error(`DynamoDB refused a seeded message: ${refused[0]!.reason}`);
    opts.progress?.(Math.min(opts.messages, start + SLICE));
  }
  const batchCount = Math.ceil(opts.messages / opts.batchSize);
  // The seed skips the workflow: the record says what a campaign that ran would.
  await tables.store.setTransactionFields(transactionId, { status: 'COMPLETED', batch_count: batchCount, total_messages: opts.messages });
  return { transactionId, batchCount };
}
