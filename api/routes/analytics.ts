// Analytics from OpenSearch: the query both analytics routes read, how an unavailable cluster
// answers, and (issue 15, item 1) the tenant's analytics over every campaign with one tag.
import { Router } from 'express';
import { z } from 'zod';
import type { CampaignAnalytics, CampaignAnalyticsOptions } from '../../src/adapters/opensearch';
import { campaignTag } from '../../src/domain/campaign-labels';
import { DomainError } from '../../src/domain/errors';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';

export const analyticsQuery = z.object({
  interval: z.enum(['1m', '5m', '15m', '1h', '1d']).default('1h'),
  top: z.coerce.number().int().min(1).max(100).default(10),
});

const tagAnalyticsQuery = analyticsQuery.extend({ tag: campaignTag }).strict();

type AnalyticsDeps = NonNullable<ApiDeps['analytics']>;

/**
 * Runs one analytics read with the options `query` asks for: 503 when analytics are not
 * configured, or OpenSearch cannot answer now (logged; the engine itself is unaffected).
 */
export async function readAnalytics(
  deps: ApiDeps,
  query: z.infer<typeof analyticsQuery>,
  read: (analytics: AnalyticsDeps['analytics'], opts: CampaignAnalyticsOptions) => Promise<CampaignAnalytics>,
  context: Record<string, unknown>,
): Promise<CampaignAnalytics & { indexing_backlog: number }> {
  if (!deps.analytics) throw new DomainError('unavailable', 'ANALYTICS_NOT_CONFIGURED', 'Analytics are not configured (OPENSEARCH_URL).');
  const { analytics, indexer } = deps.analytics;
  try {
    const result = await read(analytics, { interval: query.interval, topDomains: query.top, topUrls: query.top });
    return { indexing_backlog: indexer.queued, ...result };
  } catch (error) {
    deps.log.warn('analytics query failed', { ...context, error: (error as Error).message });
    throw new DomainError('unavailable', 'ANALYTICS_UNAVAILABLE', 'Analytics are unavailable right now; try again shortly.');
  }
}

export function analyticsRoutes(deps: ApiDeps): Router {
  const router = Router();

  // Every campaign of the tenant with the tag: analytics documents carry their campaign's tags.
  router.get('/', async (req, res) => {
    const tenantId = tenantOf(req);
    const query = tagAnalyticsQuery.parse(req.query);
    const result = await readAnalytics(deps, query, (a, opts) => a.tagAnalytics(tenantId, query.tag, opts), { tag: query.tag });
    res.json({ tag: query.tag, ...result });
  });

  return router;
}
