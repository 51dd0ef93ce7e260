// The tenant's topics (issue 15, item 7): the lists its campaigns may name (`newsletter`,
// `product-updates`). PUT creates one or changes its display name and description, up to
// TOPICS_MAX_PER_TENANT a tenant; there is no DELETE (campaigns, unsubscribe links already
// mailed and topic suppressions keep naming a topic, so a topic once made stays). Another
// tenant's topic is not found.
import { Router } from 'express';
import { z } from 'zod';
import type { TopicRecord } from '../../src/adapters/dynamo/types';
import { ranges } from '../../src/adapters/dynamo/keys';
import { DomainError, notFound } from '../../src/domain/errors';
import { isTopicName } from '../../src/domain/topics';
import { tenantOf } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeKeyCursor, encodeCursor } from '../pagination';

export const putTopicBody = z
  .object({
    display_name: z.string().trim().min(1).max(200).describe('How the unsubscribe page names the topic'),
    description: z.string().trim().max(1000).optional(),
  })
  .strict();

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(100),
  cursor: z.string().max(4096).optional(),
});

export function topicParam(raw: string): string {
  if (!isTopicName(raw)) {
    throw new DomainError(
      'invalid',
      'INVALID_TOPIC_NAME',
      'A topic name is 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit.',
      {
        field: 'name',
      },
    );
  }
  return raw;
}

export const topicView = (record: TopicRecord) => ({
  name: record.name,
  display_name: record.display_name,
  description: record.description ?? null,
  created_at: record.created_at,
  updated_at: record.updated_at,
});

export function topicRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/', async (req, res) => {
    const query = listQuery.parse(req.query);
    const tenantId = tenantOf(req);
    const { PK, skPrefix } = ranges.topics(tenantId);
    const page = await deps.topics.listTopics(tenantId, query.limit, decodeKeyCursor(query.cursor, PK, skPrefix));
    res.json({ items: page.items.map(topicView), next_cursor: encodeCursor(page.cursor) });
  });

  router.get('/:name', async (req, res) => {
    const name = topicParam(req.params.name);
    const record = await deps.topics.getTopic(tenantOf(req), name);
    if (!record) throw notFound('topic', name);
    res.json(topicView(record));
  });

  router.put('/:name', async (req, res) => {
    const name = topicParam(req.params.name);
    const body = putTopicBody.parse(req.body ?? {});
    const max = deps.config.TOPICS_MAX_PER_TENANT;
    const result = await deps.topics.putTopic(tenantOf(req), name, body, max);
    if (result.outcome === 'limit') {
      throw new DomainError('too_large', 'TOPIC_LIMIT_REACHED', `This tenant already has ${max} topics, its limit.`, { max });
    }
    res.status(result.outcome === 'created' ? 201 : 200).json(topicView(result.record));
  });

  return router;
}
