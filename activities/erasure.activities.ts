// Erasure of one recipient for one tenant, step by step (erasureWorkflow runs them): their
// analytics documents, their rows in the tenant's recipient files, their messages and rejected
// rows in DynamoDB, and the erasure record that says how far it got. The API has already swapped
// their suppression for one by hash, so the address never reaches Temporal: every step finds the
// person by the hash. Each step is idempotent (a retry, or a second erasure, finds less to do).
import { Context } from '@temporalio/activity';
import type {
  AnalyticsErasure,
  ErasureRef,
  ErasureStatus,
  ErasureStep,
  ErasureStores,
  FilesErasure,
  ItemsErasure,
} from '../src/domain/erasure';
import type { ErasureOutcome, RecipientItemRef } from '../src/adapters/dynamo/recipients';
import type { RecipientItemKind } from '../src/adapters/dynamo/keys';
import { s3Keys, type StoredObject } from '../src/adapters/s3';
import type { Cursor } from '../src/ports';
import { cut, findRecipient, streamMentions } from './recipient-files';
import { campaignFiles, governanceOf } from './retention.activities';
import type { ActivityDeps } from './deps';

/** A pinned copy this young may belong to a campaign being created right now (pinned, not yet recorded). */
const PIN_GRACE_MS = 5 * 60_000;
const ANALYTICS_PAGE = 500;
const ITEMS_PAGE = 100;
const PARALLEL_WRITES = 8;

type FileOutcome = 'clean' | 'rewritten' | 'deleted' | 'deferred';

export function createErasureActivities(deps: ActivityDeps) {
  const heartbeat = () => Context.current().heartbeat();

  /** Every page of the recipient's items of one kind, handed to `each` in turn. */
  async function forEachPage(ref: ErasureRef, kind: RecipientItemKind, limit: number, each: (items: RecipientItemRef[]) => Promise<void>) {
    const { recipients } = governanceOf(deps);
    let cursor: Cursor | undefined;
    do {
      const page = await recipients.pageItems(ref.tenantId, ref.recipientHash, kind, limit, cursor);
      await each(page.items);
      heartbeat();
      cursor = page.cursor;
    } while (cursor);
  }

  /** How many of the tenant's campaigns are still ingesting (their messages are not all written yet). */
  async function countIngestingCampaigns(input: { tenantId: string }): Promise<number> {
    return (await campaignFiles(deps, input.tenantId)).ingesting.length;
  }

  async function eraseRecipientAnalytics(ref: ErasureRef): Promise<AnalyticsErasure> {
    const { analytics } = deps;
    if (!analytics) return { skipped: 'analytics are not configured' };
    const total = { event_documents_deleted: 0, message_documents_anonymised: 0 };
    await forEachPage(ref, 'message', ANALYTICS_PAGE, async (items) => {
      const messages = items.flatMap((i) => (i.message_id ? [{ transaction_id: i.transaction_id, message_id: i.message_id }] : []));
      const done = await analytics.eraseMessageDocuments(ref.tenantId, messages, heartbeat);
      total.event_documents_deleted += done.event_documents_deleted;
      total.message_documents_anonymised += done.message_documents_anonymised;
    });
    return total;
  }

  /**
   * Cuts the recipient's rows out of every recipient file of the tenant (uploads and pinned
   * copies; the rest of each file stays byte for byte), or deletes a file where the address is
   * somewhere no cut can remove (an unreadable part, a file over the CSV limit that no campaign
   * can use). A file a campaign still ingests is left for a later pass (`deferred`): cutting a
   * row would shift the rows its ingest resumes by. With `force` (past the erasure's longest
   * wait) nothing is left.
   */
  async function eraseRecipientFiles(ref: ErasureStep): Promise<FilesErasure> {
    const result: FilesErasure = { checked: 0, rewritten: 0, deleted: 0, rows_removed: 0, deferred: 0 };
    // Looked at just before a write (rare: only files that name the person), so a campaign that
    // started since the listing counts too.
    const busy = async (object: StoredObject) => {
      if (ref.force) return false;
      const { inUse, claimed } = await campaignFiles(deps, ref.tenantId);
      // A young pinned copy no campaign claims may be one being created right now (pinned, not yet recorded).
      const unclaimed =
        object.key.startsWith('pinned/') && !claimed.has(object.key) && Date.now() - object.lastModified.getTime() < PIN_GRACE_MS;
      return inUse.has(object.key) || unclaimed;
    };
    for (const prefix of s3Keys.recipientFilePrefixes(ref.tenantId)) {
      for await (const object of deps.objects.list(prefix)) {
        result.checked += 1;
        const outcome = await eraseFromFile(object, ref.recipientHash, busy, (rows) => (result.rows_removed += rows));
        if (outcome !== 'clean') result[outcome] += 1;
        heartbeat();
      }
    }
    return result;
  }

  async function eraseFromFile(
    object: StoredObject,
    emailHash: string,
    busy: (object: StoredObject) => Promise<boolean>,
    removed: (rows: number) => void,
  ): Promise<FileOutcome> {
    const { objects, settings } = deps;
    if (object.size > settings.maxCsvBytes) {
      // No campaign can use it (campaigns refuse files over the limit): deleted if it names the person.
      if (!(await streamMentions(await objects.getStream(object.key), emailHash))) return 'clean';
      if (await busy(object)) return 'deferred';
      await objects.delete(object.key);
      return 'deleted';
    }
    const file = await objects.readUpTo(object.key, settings.maxCsvBytes);
    if (!file) return 'clean';
    const found = await findRecipient(file.body, emailHash);
    if (found.ranges.length === 0 && !found.unreadable) return 'clean';
    if (await busy(object)) return 'deferred';
    if (found.unreadable) {
      await objects.delete(object.key);
      return 'deleted';
    }
    await objects.putBytes(object.key, cut(file.body, found.ranges), 'text/csv');
    removed(found.ranges.length);
    return 'rewritten';
  }

  /**
   * Erases the recipient's messages (a message not yet sent is suppressed in the same write) and
   * rejected rows. Messages an attempt holds SENDING are left for a later pass (`in_flight`),
   * unless `force`.
   */
  async function eraseRecipientItems(ref: ErasureStep): Promise<ItemsErasure> {
    const { recipients } = governanceOf(deps);
    const at = new Date().toISOString();
    const result: ItemsErasure = { messages_erased: 0, messages_suppressed_before_send: 0, rejected_rows_erased: 0, in_flight: 0 };
    const count = (kind: RecipientItemKind, outcome: ErasureOutcome) => {
      if (outcome === 'in_flight') result.in_flight += 1;
      else if (outcome === 'gone') return;
      else if (kind === 'rowError') result.rejected_rows_erased += 1;
      else if (outcome === 'suppressed') result.messages_suppressed_before_send += 1;
      else result.messages_erased += 1;
    };
    for (const kind of ['message', 'rowError'] as const) {
      await forEachPage(ref, kind, ITEMS_PAGE, async (items) => {
        for (let i = 0; i < items.length; i += PARALLEL_WRITES) {
          const outcomes = await Promise.all(
            items
              .slice(i, i + PARALLEL_WRITES)
              .map((item) =>
                kind === 'message' ? recipients.eraseMessage(item, at, { force: ref.force }) : recipients.eraseRowError(item, at),
              ),
          );
          for (const outcome of outcomes) count(kind, outcome);
        }
      });
    }
    return result;
  }

  async function recordErasure(input: { tenantId: string; erasureId: string; status: ErasureStatus; stores?: ErasureStores }) {
    await governanceOf(deps).recipients.updateErasure(input.tenantId, input.erasureId, { ...input, at: new Date().toISOString() });
  }

  return { countIngestingCampaigns, eraseRecipientAnalytics, eraseRecipientFiles, eraseRecipientItems, recordErasure };
}
