// The campaign listing and labels in the OpenAPI document (issue 15, item 1): the label
// properties of a campaign's status, the summary a listing shows (the status without its
// history and reconciliation, derived from the status schema so the two cannot drift) and the
// GET /campaigns operation, which index.ts places beside POST under both bases; and the
// tenant's analytics by tag (GET /analytics), an area of its own.
import { MAX_METADATA_BYTES, MAX_METADATA_KEYS, MAX_NAME_LENGTH, MAX_TAGS, TAG_PATTERN } from '../../src/domain/campaign-labels';
import { TRANSACTION_STATUSES } from '../../src/domain/transaction-status';
import { DEFAULT_CAMPAIGN_PAGE, MAX_CAMPAIGN_PAGE } from '../campaign-listing';
import { cursorParam, dateTime, err, meta, nullable, ok, ref, v1, type ApiArea, type Responses } from './common';

export const campaignLabelProperties = {
  name: { ...nullable('string'), maxLength: MAX_NAME_LENGTH, description: 'The name given at creation (null when none was)' },
  tags: {
    type: 'array',
    maxItems: MAX_TAGS,
    items: { type: 'string', pattern: TAG_PATTERN.source },
    description: 'The tags given at creation, each once (empty when none were)',
  },
  metadata: {
    type: 'object',
    maxProperties: MAX_METADATA_KEYS,
    additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
    description: `The metadata given at creation (at most ${MAX_METADATA_BYTES} bytes as JSON; empty when none was)`,
  },
};

/** What a listing leaves out of a campaign's status. */
const NOT_LISTED = ['status_history', 'reconciliation'];

type ObjectSchema = { required: string[]; properties: Record<string, unknown> };
const without = (schema: ObjectSchema, names: string[]) => ({
  type: 'object',
  required: schema.required.filter((name) => !names.includes(name)),
  properties: Object.fromEntries(Object.entries(schema.properties).filter(([name]) => !names.includes(name))),
});

/**
 * CampaignSummary and CampaignPage from the CampaignStatus schema, TagAnalytics from
 * CampaignAnalytics (the same figures over the tenant's campaigns with one tag).
 */
export function derivedCampaignSchemas(schemas: { CampaignStatus: ObjectSchema; CampaignAnalytics: ObjectSchema }) {
  const status = schemas.CampaignStatus;
  const analytics = without(schemas.CampaignAnalytics, ['transaction_id', 'status']);
  return {
    TagAnalytics: {
      ...analytics,
      description: 'Analytics over every campaign of the tenant with the tag (events indexed with their campaign’s tags)',
      required: ['tag', ...analytics.required],
      properties: { tag: { type: 'string', pattern: TAG_PATTERN.source }, ...analytics.properties },
    },
    CampaignSummary: {
      ...without(status, NOT_LISTED),
      description: 'A campaign as a listing shows it: its status without status_history and reconciliation (GET …/status has them)',
    },
    CampaignPage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('CampaignSummary') }, next_cursor: nullable('string') },
    },
  };
}

const query = (name: string, schema: Record<string, unknown>, description: string, required = false) => ({
  name,
  in: 'query',
  required,
  schema,
  description,
});

/** GET on a campaigns base; `meta` names it for its base (listCampaigns, listTransactions). */
export function listCampaignsOperation(meta: Record<string, unknown>): { responses: Responses } & Record<string, unknown> {
  return {
    ...meta,
    description:
      "The tenant's campaigns, newest first. `created_from` and `created_to` bound the creation time (from inclusive, to exclusive); " +
      '`status`, `tag` and `q` (part of the name, case-insensitive) filter what is read. A request reads a bounded part of the ' +
      'tenant index (CAMPAIGN_LIST_READ_BUDGET items): a filtered page may hold fewer items than `limit`, or none, and still ' +
      'have a `next_cursor`. Follow `next_cursor` until it is null; a cursor is only good for the tenant and creation window it came from.',
    parameters: [
      query('status', { enum: TRANSACTION_STATUSES }, 'Only campaigns in this status'),
      query('created_from', dateTime, 'Only campaigns created at or after this time'),
      query('created_to', dateTime, 'Only campaigns created before this time'),
      query('tag', { type: 'string', pattern: TAG_PATTERN.source }, 'Only campaigns with this tag'),
      query(
        'q',
        { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
        'Only campaigns whose name contains this (case-insensitive)',
      ),
      query(
        'limit',
        { type: 'integer', minimum: 1, maximum: MAX_CAMPAIGN_PAGE, default: DEFAULT_CAMPAIGN_PAGE },
        'Campaigns per page at most',
      ),
      cursorParam,
    ],
    responses: v1({
      '200': ok('A page of campaigns', ref('CampaignPage')),
      '400': err(
        'Invalid query (VALIDATION_FAILED; details name the parameter: an unknown status, a date that is not ISO 8601 with an offset, created_to not after created_from, a bad tag, limit out of range, an unknown parameter) or cursor (INVALID_CURSOR: not issued for this tenant and window)',
      ),
    }),
  };
}

/** GET /api/v1/analytics?tag= (api/routes/analytics.ts). */
export const analyticsArea: ApiArea = {
  tags: [{ name: 'Analytics', description: "Delivery and engagement analytics across the tenant's campaigns (from OpenSearch)" }],
  schemas: {},
  paths: {
    '/api/v1/analytics': {
      get: {
        ...meta('getTagAnalytics', 'Get analytics over every campaign with a tag', 'Analytics'),
        description:
          'The figures of GET /campaigns/{id}/analytics, over all of the tenant’s campaigns that carry `tag`. Events are indexed with ' +
          'their campaign’s tags as they arrive; events indexed before tags existed carry none.',
        parameters: [
          query('tag', { type: 'string', pattern: TAG_PATTERN.source }, 'The tag (required)', true),
          query('interval', { enum: ['1m', '5m', '15m', '1h', '1d'], default: '1h' }, 'Timeline step'),
          query('top', { type: 'integer', minimum: 1, maximum: 100, default: 10 }, 'Domains and URLs listed at most'),
        ],
        responses: v1({
          '200': ok('Status breakdown, engagement, bounce and complaint rates, by domain, over time, top URLs', ref('TagAnalytics')),
          '400': err(
            'Invalid query (VALIDATION_FAILED): a missing or bad tag, an unknown interval, top out of range, an unknown parameter',
          ),
          '503': err('Analytics not configured or OpenSearch unavailable (ANALYTICS_NOT_CONFIGURED, ANALYTICS_UNAVAILABLE)'),
        }),
      },
    },
  },
};
