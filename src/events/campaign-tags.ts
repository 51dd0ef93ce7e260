// Analytics documents carry their campaign's tags (issue 15, item 1), so analytics can be
// filtered by tag. An SES event names its message, not the campaign's labels: the tags are read
// from the transaction once per campaign and kept (they never change after creation), so a
// million events of one campaign cost one DynamoDB read.
import type { EmailEventDoc, EmailMessageDoc } from '../adapters/opensearch';
import type { Logger } from '../logging';
import type { Transactions } from '../ports';

/** Campaigns whose tags one process keeps; the least recently asked for go first. */
const MAX_CAMPAIGNS = 10_000;

export class CampaignTagCache {
  private readonly known = new Map<string, Promise<string[]>>();

  constructor(
    private readonly store: Pick<Transactions, 'getTransaction'>,
    private readonly log: Logger,
    private readonly max = MAX_CAMPAIGNS,
  ) {}

  /** The campaign's tags ([] when it has none); a failed read gives [] this time and is tried again next time. */
  tagsOf(transactionId: string): Promise<string[]> {
    const cached = this.known.get(transactionId);
    if (cached) {
      // Moved to the back: the map's order is the order of last use.
      this.known.delete(transactionId);
      this.known.set(transactionId, cached);
      return cached;
    }
    const read = this.store.getTransaction(undefined, transactionId).then(
      (txn) => txn?.tags ?? [],
      (error: unknown) => {
        this.known.delete(transactionId);
        this.log.warn('campaign tags not read for analytics', { transaction_id: transactionId, error: (error as Error).message });
        return [];
      },
    );
    this.known.set(transactionId, read);
    if (this.known.size > this.max) this.known.delete(this.known.keys().next().value!);
    return read;
  }
}

type IndexDocs = (event: EmailEventDoc | undefined, message: EmailMessageDoc | undefined) => void;

/**
 * Wraps the indexer's `add` so each document goes with its campaign's tags. Documents of one
 * campaign wait on the same read, so they reach the indexer in the order they came (message
 * upserts merge in order).
 */
export function withCampaignTags(cache: CampaignTagCache, add: IndexDocs): IndexDocs {
  return (event, message) => {
    const transactionId = event?.transaction_id ?? message?.transaction_id;
    if (!transactionId) return add(event, message);
    void cache.tagsOf(transactionId).then((tags) => {
      const tagged = tags.length > 0 ? { tags } : {};
      add(event && { ...event, ...tagged }, message && { ...message, ...tagged });
    });
  };
}
