// GET /campaigns (issue 15, item 1): the query a client sends, checked, and the cursor it brings
// back, checked against the one tenant-index partition and creation window the request may read.
import { z } from 'zod';
import { campaignName, campaignTag } from '../src/domain/campaign-labels';
import { DomainError } from '../src/domain/errors';
import { TRANSACTION_STATUSES } from '../src/domain/transaction-status';
import { keys } from '../src/adapters/dynamo/keys';
import { tenantCampaignPartition } from '../src/adapters/dynamo/campaign-index';
import type { CampaignListing, IndexKey } from '../src/ports';
import { isPlausibleId } from './ids';
import { decodeCursor } from './pagination';

export const MAX_CAMPAIGN_PAGE = 100;
export const DEFAULT_CAMPAIGN_PAGE = 20;

/** An ISO date-time with an offset, as the UTC form the index's sort keys are written in. */
const instant = z
  .string()
  .datetime({ offset: true })
  .transform((s) => new Date(s).toISOString());

// Strict: a misspelt filter (`tags=`, `from=`) is a 400, not a silently unfiltered list.
export const listCampaignsQuery = z
  .object({
    status: z.enum(TRANSACTION_STATUSES).optional(),
    created_from: instant.optional(),
    created_to: instant.optional(),
    tag: campaignTag.optional(),
    q: campaignName.optional(),
    limit: z.coerce.number().int().min(1).max(MAX_CAMPAIGN_PAGE).default(DEFAULT_CAMPAIGN_PAGE),
    cursor: z.string().max(4096).optional(),
  })
  .strict()
  .refine((q) => !q.created_from || !q.created_to || q.created_from < q.created_to, {
    path: ['created_to'],
    message: 'must be later than created_from',
  });

export type ListCampaignsQuery = z.infer<typeof listCampaignsQuery>;

/** A sort key of the tenant index: the creation time as toISOString writes it, then the transaction id. */
const SORT_KEY = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)#([^#]+)$/;
const invalidCursor = () => new DomainError('invalid', 'INVALID_CURSOR', 'The cursor is not valid.');

/**
 * The position a cursor names, or a 400: it must be a key of the tenant's own partition (a
 * cursor of another tenant is refused, never read), consistent in itself (the table key is the
 * transaction the sort key names) and inside the request's creation window.
 */
export function campaignCursor(raw: string | undefined, tenantId: string, window: { from?: string; to?: string }): IndexKey | undefined {
  const value = decodeCursor<Record<string, unknown>>(raw);
  if (value === undefined) return undefined;
  const sortKey = value.GSI2SK;
  const match = typeof sortKey === 'string' ? SORT_KEY.exec(sortKey) : null;
  const id = match?.[2];
  if (!match || !id || !isPlausibleId(id) || Object.keys(value).length !== 4) throw invalidCursor();
  const table = keys.transaction(id);
  const sk = sortKey as string;
  if (
    value.GSI2PK !== tenantCampaignPartition(tenantId) ||
    value.PK !== table.PK ||
    value.SK !== table.SK ||
    (window.from !== undefined && sk < window.from) ||
    (window.to !== undefined && sk >= window.to)
  ) {
    throw invalidCursor();
  }
  return { PK: table.PK, SK: table.SK, GSI2PK: tenantCampaignPartition(tenantId), GSI2SK: sk };
}

/** The listing a checked query asks the index for, within the request's read budget. */
export function campaignListing(query: ListCampaignsQuery, tenantId: string, budget: CampaignListing['budget']): CampaignListing {
  const window = { from: query.created_from, to: query.created_to };
  return {
    ...window,
    status: query.status,
    tag: query.tag,
    q: query.q,
    limit: query.limit,
    cursor: campaignCursor(query.cursor, tenantId, window),
    budget,
  };
}
