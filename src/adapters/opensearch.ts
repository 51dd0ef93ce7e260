// Campaign analytics in OpenSearch: one document per SES event (`email-events`) and one per
// message with its current status and flags (`email-messages`), written with the bulk API and
// read back as per-campaign aggregations. The same code talks to the local node and to Amazon
// OpenSearch Service (SigV4-signed requests).
import { type API, Client, type ClientOptions } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws';
// Ships with the AWS SDK clients (their default credential chain); not a package of our own.
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Config } from '../config';
import type { EffectKind } from '../domain/ses-event';
import type { MessageStatus } from '../domain/message-status';

export interface EmailEventDoc {
  /** Document id (e.g. SNS MessageId + event type): indexing the same event twice is a no-op. */
  id: string;
  transaction_id: string;
  batch_id?: string;
  message_id: string;
  tenant_id: string;
  recipient_domain: string;
  event_type: EffectKind;
  timestamp: string;
  bounce_type?: string;
  bounce_subtype?: string;
  complaint_type?: string;
  user_agent?: string;
  url?: string;
  ses_message_id?: string;
  /** The campaign's tags (issue 15, item 1), so analytics can be filtered by tag. */
  tags?: string[];
}

/**
 * A message document's id: its campaign's id and its own. A message id alone (`b00001-r000000001`)
 * repeats in every campaign, and documents under it once merged campaigns, and tenants, together.
 */
export const messageDocId = (transactionId: string, messageId: string) => `${transactionId}:${messageId}`;

/** Partial message documents, merged into what is there (flags only ever become true). */
export interface EmailMessageDoc {
  /** The document id: messageDocId of its campaign and message. */
  id: string;
  transaction_id?: string;
  batch_id?: string;
  tenant_id?: string;
  recipient_domain?: string;
  ses_message_id?: string;
  status?: MessageStatus;
  updated_at?: string;
  sent?: boolean;
  delivered?: boolean;
  bounced?: boolean;
  /** Final soft bounce (issue 17, item 2): apart from `bounced`, which is hard bounces. */
  soft_bounced?: boolean;
  complained?: boolean;
  opened?: boolean;
  clicked?: boolean;
  failed?: boolean;
  suppressed?: boolean;
  sent_at?: string;
  delivered_at?: string;
  bounced_at?: string;
  soft_bounced_at?: string;
  complained_at?: string;
  opened_at?: string;
  clicked_at?: string;
  failed_at?: string;
  bounce_type?: string;
  bounce_subtype?: string;
  complaint_type?: string;
  /** The campaign's tags (issue 15, item 1). */
  tags?: string[];
}

export interface BulkFailure {
  id: string;
  status: number;
  type: string;
  reason: string;
}

export interface BulkResult {
  created: number;
  updated: number;
  /** create: the id was already indexed; update: nothing changed. */
  unchanged: number;
  failed: BulkFailure[];
  /** Rounds repeated because OpenSearch pushed back (429). */
  retries: number;
}

export interface AnalyticsOptions {
  node: string;
  /** Amazon OpenSearch Service: sign with SigV4 (`es` for domains, `aoss` for serverless). */
  aws?: { region: string; service?: 'es' | 'aoss'; getCredentials?: ClientCredentials };
  /** Prefix for index and template names (tests isolate themselves with it). */
  prefix?: string;
  shards?: number;
  /** 0 on a single local node keeps indices green; leave unset for the service default. */
  replicas?: number;
  /** Bulk operations per request. */
  chunkSize?: number;
  maxRetries?: number;
  retryBaseMs?: number;
}

type ClientCredentials = NonNullable<Parameters<typeof AwsSigv4Signer>[0]['getCredentials']>;

export interface CampaignAnalyticsOptions {
  /** Histogram step: 5m, 1h, 1d (fixed) or 1w, 1M, 1q, 1y (calendar). */
  interval: string;
  topDomains: number;
  topUrls: number;
  timeZone?: string;
}

export interface DomainStats {
  domain: string;
  messages: number;
  sent: number;
  delivered: number;
  bounced: number;
  complained: number;
  opened: number;
  clicked: number;
}

export interface CampaignAnalytics {
  status_breakdown: Partial<Record<MessageStatus, number>>;
  totals: Omit<DomainStats, 'domain'> & { events: number };
  engagement: { opened_unique: number; opened_total: number; clicked_unique: number; clicked_total: number };
  /** Fractions (0..1) of messages sent. */
  rates: { bounce_rate: number; complaint_rate: number };
  bounce_subtypes: { bounce_type: string; bounce_subtype: string; count: number }[];
  by_domain: DomainStats[];
  timeline: { at: string; total: number; counts: Partial<Record<EffectKind, number>> }[];
  top_urls: { url: string; clicks: number; unique_clicks: number }[];
}

const keyword = { type: 'keyword' } as const;
const date = { type: 'date' } as const;
const flag = { type: 'boolean' } as const;
const ids = {
  transaction_id: keyword,
  batch_id: keyword,
  message_id: keyword,
  tenant_id: keyword,
  recipient_domain: keyword,
  ses_message_id: keyword,
  // The campaign's tags (issue 15, item 1): a keyword field holds an array of them as it is.
  tags: keyword,
};
// dynamic: false keeps unexpected fields in _source without growing the mapping.
const EVENT_MAPPINGS = {
  dynamic: false,
  properties: {
    ...ids,
    event_type: keyword,
    timestamp: date,
    bounce_type: keyword,
    bounce_subtype: keyword,
    complaint_type: keyword,
    user_agent: { type: 'keyword', ignore_above: 1024 },
    url: { type: 'keyword', ignore_above: 4096 },
  },
} as const;
const MESSAGE_MAPPINGS = {
  dynamic: false,
  properties: {
    ...ids,
    status: keyword,
    updated_at: date,
    ...Object.fromEntries(
      ['sent', 'delivered', 'bounced', 'soft_bounced', 'complained', 'opened', 'clicked', 'failed', 'suppressed'].flatMap((f) => [
        [f, flag],
        [`${f}_at`, date],
      ]),
    ),
    bounce_type: keyword,
    bounce_subtype: keyword,
    complaint_type: keyword,
  },
} as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A message as analytics name it: message ids repeat across campaigns (b00001-r000000001 in each), so with its campaign. */
export interface MessageRef {
  transaction_id: string;
  message_id: string;
}

/** The tenant's documents of these messages, campaign by campaign: message documents by their id, events by their message_id. */
function docsOf(tenantId: string, messages: MessageRef[], kind: 'message' | 'event') {
  const byCampaign = new Map<string, string[]>();
  for (const m of messages) byCampaign.set(m.transaction_id, [...(byCampaign.get(m.transaction_id) ?? []), m.message_id]);
  // A message document written before messageDocId is under the bare message id: both are looked for.
  const documentIds = (transactionId: string, ids: string[]) => [...ids, ...ids.map((id) => messageDocId(transactionId, id))];
  const should = [...byCampaign].map(([transactionId, ids]) => ({
    bool: {
      filter: [
        { term: { transaction_id: transactionId } },
        kind === 'message' ? { ids: { values: documentIds(transactionId, ids) } } : { terms: { message_id: ids } },
      ],
    },
  }));
  return { bool: { filter: [{ term: { tenant_id: tenantId } }], should, minimum_should_match: 1 } };
}
/** Documents read per round of a delete or an update by query. */
const BY_QUERY_PAGE = 1000;

interface SearchHit {
  _index: string;
  _id: string;
  _seq_no: number;
  _primary_term: number;
  _source: Record<string, unknown>;
}

interface BulkOp {
  id: string;
  lines: object[];
}

export class Analytics {
  readonly client: Client;
  readonly eventsIndex: string;
  readonly messagesIndex: string;
  private readonly opts: Required<Pick<AnalyticsOptions, 'chunkSize' | 'maxRetries' | 'retryBaseMs'>> & AnalyticsOptions;

  constructor(options: AnalyticsOptions) {
    this.opts = { chunkSize: 500, maxRetries: 8, retryBaseMs: 100, ...options };
    const prefix = options.prefix ?? '';
    this.eventsIndex = `${prefix}email-events`;
    this.messagesIndex = `${prefix}email-messages`;
    const base: ClientOptions = { node: options.node, requestTimeout: 30_000 };
    this.client = options.aws
      ? new Client({
          ...base,
          ...AwsSigv4Signer({
            region: options.aws.region,
            service: options.aws.service ?? 'es',
            getCredentials: options.aws.getCredentials ?? defaultProvider(),
          }),
        })
      : new Client(base);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Index templates with explicit mappings; applied when the indices are first written. */
  async ensureTemplates(): Promise<void> {
    const settings = {
      number_of_shards: this.opts.shards ?? 1,
      ...(this.opts.replicas === undefined ? {} : { number_of_replicas: this.opts.replicas }),
    };
    for (const [index, mappings] of [
      [this.eventsIndex, EVENT_MAPPINGS],
      [this.messagesIndex, MESSAGE_MAPPINGS],
    ] as const) {
      await this.client.indices.putIndexTemplate({
        name: index,
        body: { index_patterns: [`${index}*`], priority: 100, template: { settings, mappings } },
      });
      // A template shapes new indices only: an index made before a field was added (tags, issue
      // 15) gets it too. Adding a field is always accepted; with dynamic: false nothing else
      // could have mapped it first.
      await this.client.indices.putMapping({ index: `${index}*`, allow_no_indices: true, body: mappings });
    }
  }

  /** Immutable events, `create` with our ids: SNS redeliveries come back as `unchanged`. */
  async indexEvents(docs: EmailEventDoc[], opts: { refresh?: boolean } = {}): Promise<BulkResult> {
    const ops = docs.map(({ id, ...doc }) => ({ id, lines: [{ create: { _index: this.eventsIndex, _id: id } }, doc] }));
    return this.bulk(ops, opts.refresh);
  }

  /** Merges partial message documents, creating them when missing. */
  async upsertMessages(docs: EmailMessageDoc[], opts: { refresh?: boolean } = {}): Promise<BulkResult> {
    const ops = docs.map(({ id, ...doc }) => ({
      id,
      // Two bulk requests may touch the same message at once: let OpenSearch re-apply the merge.
      lines: [{ update: { _index: this.messagesIndex, _id: id, retry_on_conflict: 5 } }, { doc, doc_as_upsert: true }],
    }));
    return this.bulk(ops, opts.refresh);
  }

  async refresh(): Promise<void> {
    await this.client.indices.refresh({ index: [this.eventsIndex, this.messagesIndex], ignore_unavailable: true });
  }

  // ---- retention and erasure (issue 14, item 11) ----

  /** How many documents the tenant holds for these messages: message documents, and their events. */
  async countMessageDocuments(tenantId: string, messages: MessageRef[]): Promise<{ message_documents: number; event_documents: number }> {
    if (messages.length === 0) return { message_documents: 0, event_documents: 0 };
    const count = async (index: string, query: object) =>
      (await this.client.count({ index, ignore_unavailable: true, body: { query } as never })).body.count ?? 0;
    const [messageDocuments, eventDocuments] = await Promise.all([
      count(this.messagesIndex, docsOf(tenantId, messages, 'message')),
      count(this.eventsIndex, docsOf(tenantId, messages, 'event')),
    ]);
    return { message_documents: messageDocuments, event_documents: eventDocuments };
  }

  /**
   * Erases these messages' analytics: their event documents (when each open and click happened,
   * from which user agent, to which URL) are deleted; their message documents lose what ties
   * them to the person (recipient domain, SES message id) and keep status and flags, so the
   * campaign's message counts stay as they were.
   */
  async eraseMessageDocuments(
    tenantId: string,
    messages: MessageRef[],
    onProgress?: () => void,
  ): Promise<{ event_documents_deleted: number; message_documents_anonymised: number }> {
    if (messages.length === 0) return { event_documents_deleted: 0, message_documents_anonymised: 0 };
    const deleted = await this.deleteWhere(this.eventsIndex, docsOf(tenantId, messages, 'event'), onProgress);
    const stripped = await this.stripWhere(
      this.messagesIndex,
      docsOf(tenantId, messages, 'message'),
      ['recipient_domain', 'ses_message_id'],
      onProgress,
    );
    return { event_documents_deleted: deleted, message_documents_anonymised: stripped };
  }

  /** Retention: deletes the tenant's event documents from before `before`, and its message documents last changed before it. */
  async deleteOlderThan(tenantId: string, before: Date, onProgress?: () => void): Promise<{ events: number; messages: number }> {
    const older = (field: string) => ({
      bool: { filter: [{ term: { tenant_id: tenantId } }, { range: { [field]: { lt: before.toISOString() } } }] },
    });
    const events = await this.deleteWhere(this.eventsIndex, older('timestamp'), onProgress);
    const messages = await this.deleteWhere(this.messagesIndex, older('updated_at'), onProgress);
    return { events, messages };
  }

  /** The tenants that have documents in either index (a composite aggregation, paged). */
  async tenantsWithDocuments(): Promise<string[]> {
    const tenants = new Set<string>();
    let after: Record<string, unknown> | undefined;
    for (;;) {
      const composite = { size: 1000, sources: [{ tenant: { terms: { field: 'tenant_id' } } }], ...(after ? { after } : {}) };
      const body = { size: 0, aggs: { tenants: { composite } } } as unknown as API.Search_RequestBody;
      const response = await this.client.search({ index: [this.eventsIndex, this.messagesIndex], ignore_unavailable: true, body });
      const agg = (response.body.aggregations as Record<string, unknown> | undefined)?.tenants as
        { buckets: { key: { tenant: string } }[]; after_key?: Record<string, unknown> } | undefined;
      for (const bucket of agg?.buckets ?? []) tenants.add(bucket.key.tenant);
      if (!agg?.after_key || agg.buckets.length === 0) return [...tenants];
      after = agg.after_key;
    }
  }

  /** Up to a page of the documents `query` matches, with what a conditional write needs. */
  private async page(index: string, query: object, source: boolean): Promise<SearchHit[]> {
    const body = { query, size: BY_QUERY_PAGE, _source: source, seq_no_primary_term: true } as unknown as API.Search_RequestBody;
    const response = await this.client.search({ index, ignore_unavailable: true, body });
    return response.body.hits.hits as unknown as SearchHit[];
  }

  /**
   * Deletes what `query` matches, a page at a time with the bulk API (delete-by-query is a module
   * not every distribution has, the local integ-test node among them), until nothing matches.
   */
  private async deleteWhere(index: string, query: object, onProgress?: () => void): Promise<number> {
    let deleted = 0;
    for (;;) {
      const hits = await this.page(index, query, false);
      if (hits.length === 0) return deleted;
      const result = await this.bulk(
        hits.map((h) => ({ id: h._id, lines: [{ delete: { _index: h._index, _id: h._id } }] })),
        true,
      );
      // Gone already (404) is as good as deleted; anything else would match again for ever.
      const failed = result.failed.filter((f) => f.status !== 404);
      if (failed.length > 0) throw new Error(`deleting from ${index} failed: ${failed[0]!.type} ${failed[0]!.reason}`);
      deleted += result.updated;
      onProgress?.();
    }
  }

  /**
   * Removes `fields` from what `query` matches: each document written back without them, on
   * condition that it did not change since read (one that did is read again on the next page).
   */
  private async stripWhere(index: string, query: object, fields: string[], onProgress?: () => void): Promise<number> {
    const withFields = { bool: { filter: [query], should: fields.map((field) => ({ exists: { field } })), minimum_should_match: 1 } };
    let stripped = 0;
    for (let round = 0; round < 50; round++) {
      const hits = await this.page(index, withFields, true);
      if (hits.length === 0) return stripped;
      const ops = hits.map((h) => {
        const source = { ...h._source };
        for (const field of fields) delete source[field];
        const meta = { _index: h._index, _id: h._id, if_seq_no: h._seq_no, if_primary_term: h._primary_term };
        return { id: h._id, lines: [{ index: meta }, source] };
      });
      const result = await this.bulk(ops, true);
      stripped += result.created + result.updated;
      onProgress?.();
    }
    throw new Error(`documents in ${index} kept changing while their fields were removed`);
  }

  private async bulk(ops: BulkOp[], refresh?: boolean): Promise<BulkResult> {
    const result: BulkResult = { created: 0, updated: 0, unchanged: 0, failed: [], retries: 0 };
    for (let i = 0; i < ops.length; i += this.opts.chunkSize) {
      await this.bulkChunk(ops.slice(i, i + this.opts.chunkSize), result);
    }
    if (refresh) await this.refresh();
    return result;
  }

  /** Sends one chunk; items rejected with 429 are sent again with backoff, the rest reported. */
  private async bulkChunk(ops: BulkOp[], result: BulkResult): Promise<void> {
    let pending = ops;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) {
        result.retries++;
        // Full jitter: concurrent writers that were rejected together do not come back together.
        await sleep(Math.random() * Math.min(this.opts.retryBaseMs * 2 ** attempt, 10_000));
      }
      const lastTry = attempt >= this.opts.maxRetries;
      let items: Record<string, BulkItem>[];
      try {
        const response = await this.client.bulk({ body: pending.flatMap((op) => op.lines) });
        items = response.body.items as unknown as Record<string, BulkItem>[];
      } catch (error) {
        // The whole request can be rejected too (coordinating node's queue full).
        if (isRejection(error) && !lastTry) continue;
        throw error;
      }
      const again: BulkOp[] = [];
      items.forEach((item, index) => {
        const [action, outcome] = Object.entries(item)[0] as [string, BulkItem];
        const op = pending[index]!;
        if (outcome.status < 300) {
          if (outcome.result === 'created') result.created++;
          else if (outcome.result === 'noop') result.unchanged++;
          else result.updated++;
        } else if (outcome.status === 409 && action === 'create') {
          result.unchanged++;
        } else if ((outcome.status === 429 || outcome.error?.type === 'es_rejected_execution_exception') && !lastTry) {
          again.push(op);
        } else {
          const error = outcome.error ?? {};
          result.failed.push({ id: op.id, status: outcome.status, type: error.type ?? 'unknown', reason: error.reason ?? '' });
        }
      });
      pending = again;
    }
  }

  /**
   * One campaign (tenant + transaction): status counts and per-domain numbers from the message
   * documents (exact unique counts), event totals, bounce kinds, timeline and links from events.
   */
  campaignAnalytics(tenantId: string, transactionId: string, opts: CampaignAnalyticsOptions): Promise<CampaignAnalytics> {
    return this.analyticsWhere([{ term: { tenant_id: tenantId } }, { term: { transaction_id: transactionId } }], opts);
  }

  /** The same figures over every campaign of the tenant with this tag (issue 15, item 1): documents carry their campaign's tags. */
  tagAnalytics(tenantId: string, tag: string, opts: CampaignAnalyticsOptions): Promise<CampaignAnalytics> {
    return this.analyticsWhere([{ term: { tenant_id: tenantId } }, { term: { tags: tag } }], opts);
  }

  private async analyticsWhere(filter: object[], opts: CampaignAnalyticsOptions): Promise<CampaignAnalytics> {
    const flags = {
      filters: {
        filters: {
          // A message that bounced or was delivered was sent, whatever order the updates came in.
          sent: { bool: { should: ['sent', 'delivered', 'bounced', 'soft_bounced', 'complained'].map((f) => ({ term: { [f]: true } })) } },
          delivered: { term: { delivered: true } },
          bounced: { term: { bounced: true } },
          soft_bounced: { term: { soft_bounced: true } },
          complained: { term: { complained: true } },
          opened: { term: { opened: true } },
          clicked: { term: { clicked: true } },
        },
      },
    };
    const calendar = /^1?[wMqy]$/.test(opts.interval);
    const [messages, events] = await Promise.all([
      this.aggregate(this.messagesIndex, filter, {
        status: { terms: { field: 'status', size: 50 } },
        flags,
        by_domain: { terms: { field: 'recipient_domain', size: opts.topDomains }, aggs: { flags } },
      }),
      this.aggregate(this.eventsIndex, filter, {
        by_type: { terms: { field: 'event_type', size: 50 } },
        bounces: {
          filter: { term: { event_type: 'bounce' } },
          aggs: {
            types: {
              terms: { field: 'bounce_type', size: 20, missing: 'Undetermined' },
              aggs: { subtypes: { terms: { field: 'bounce_subtype', size: 50, missing: 'Undetermined' } } },
            },
          },
        },
        timeline: {
          date_histogram: {
            field: 'timestamp',
            [calendar ? 'calendar_interval' : 'fixed_interval']: opts.interval,
            time_zone: opts.timeZone ?? 'UTC',
            min_doc_count: 0, // empty steps stay in the series
          },
          aggs: { types: { terms: { field: 'event_type', size: 50 } } },
        },
        clicks: {
          filter: { term: { event_type: 'click' } },
          aggs: {
            urls: {
              terms: { field: 'url', size: opts.topUrls },
              // Exact below the threshold; a link is rarely clicked by more distinct messages.
              aggs: { unique: { cardinality: { field: 'message_id', precision_threshold: 40_000 } } },
            },
          },
        },
      }),
    ]);
    return toAnalytics(messages, events);
  }

  private async aggregate(index: string, filter: object[], aggs: Record<string, unknown>): Promise<Aggs | undefined> {
    const body = { size: 0, query: { bool: { filter } }, aggs } as unknown as API.Search_RequestBody;
    const response = await this.client.search({ index, ignore_unavailable: true, body });
    return response.body.aggregations as unknown as Aggs | undefined;
  }
}

/** The analytics cluster the config names (undefined: analytics are off); the API and the worker share it. */
export function analyticsFromConfig(
  config: Pick<Config, 'OPENSEARCH_URL' | 'OPENSEARCH_INDEX_PREFIX' | 'OPENSEARCH_AWS_REGION' | 'OPENSEARCH_AWS_SERVICE'>,
): Analytics | undefined {
  if (!config.OPENSEARCH_URL) return undefined;
  return new Analytics({
    node: config.OPENSEARCH_URL,
    prefix: config.OPENSEARCH_INDEX_PREFIX,
    aws: config.OPENSEARCH_AWS_REGION ? { region: config.OPENSEARCH_AWS_REGION, service: config.OPENSEARCH_AWS_SERVICE } : undefined,
  });
}

// The few response shapes we read; the client's types are a union of every aggregation.
interface Bucket {
  key: string | number;
  key_as_string?: string;
  doc_count: number;
  [sub: string]: unknown;
}
type Aggs = Record<
  string,
  { buckets?: Bucket[] | Record<string, { doc_count: number }>; doc_count?: number; value?: number } & Record<string, unknown>
>;

const bucketsOf = (agg: unknown): Bucket[] => ((agg as { buckets?: Bucket[] } | undefined)?.buckets ?? []) as Bucket[];
const countsOf = (agg: unknown): Record<string, number> => Object.fromEntries(bucketsOf(agg).map((b) => [String(b.key), b.doc_count]));
const flagsOf = (agg: unknown) => {
  const b = (agg as { buckets?: Record<string, { doc_count: number }> } | undefined)?.buckets ?? {};
  const n = (k: string) => b[k]?.doc_count ?? 0;
  return {
    sent: n('sent'),
    delivered: n('delivered'),
    bounced: n('bounced'),
    soft_bounced: n('soft_bounced'),
    complained: n('complained'),
    opened: n('opened'),
    clicked: n('clicked'),
  };
};

function toAnalytics(messages: Aggs | undefined, events: Aggs | undefined): CampaignAnalytics {
  const status = countsOf(messages?.status);
  const totals = { messages: Object.values(status).reduce((a, b) => a + b, 0), ...flagsOf(messages?.flags) };
  const byType = countsOf(events?.by_type);
  const rate = (n: number) => (totals.sent === 0 ? 0 : n / totals.sent);
  return {
    status_breakdown: status,
    totals: { ...totals, events: Object.values(byType).reduce((a, b) => a + b, 0) },
    engagement: {
      opened_unique: totals.opened,
      opened_total: byType.open ?? 0,
      clicked_unique: totals.clicked,
      clicked_total: byType.click ?? 0,
    },
    rates: { bounce_rate: rate(totals.bounced), complaint_rate: rate(totals.complained) },
    bounce_subtypes: bucketsOf(events?.bounces?.types)
      .flatMap((t) => bucketsOf(t.subtypes).map((s) => ({ bounce_type: String(t.key), bounce_subtype: String(s.key), count: s.doc_count })))
      .sort((a, b) => b.count - a.count || a.bounce_type.localeCompare(b.bounce_type) || a.bounce_subtype.localeCompare(b.bounce_subtype)),
    by_domain: bucketsOf(messages?.by_domain).map((b) => ({ domain: String(b.key), messages: b.doc_count, ...flagsOf(b.flags) })),
    timeline: bucketsOf(events?.timeline).map((b) => ({
      at: b.key_as_string ?? new Date(Number(b.key)).toISOString(),
      total: b.doc_count,
      counts: countsOf(b.types),
    })),
    top_urls: bucketsOf(events?.clicks?.urls).map((b) => ({
      url: String(b.key),
      clicks: b.doc_count,
      unique_clicks: (b.unique as { value?: number } | undefined)?.value ?? 0,
    })),
  };
}

interface BulkItem {
  status: number;
  result?: string;
  error?: { type?: string; reason?: string };
}

function isRejection(error: unknown): boolean {
  const e = error as { statusCode?: number; meta?: { statusCode?: number }; body?: unknown };
  return (e?.meta?.statusCode ?? e?.statusCode) === 429 || JSON.stringify(e?.body ?? '').includes('es_rejected_execution_exception');
}
