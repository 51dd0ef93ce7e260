// The Topics area of the OpenAPI document: the tenant's topics (api/routes/topics.ts, issue 15, item 7).
import { putTopicBody } from '../routes/topics';
import { TOPIC_NAME_PATTERN } from '../../src/domain/topics';
import { body, cursorParam, dateTime, err, limitParam, meta, nullable, ok, ref, v1, type ApiArea } from './common';

const TAG = 'Topics';

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'The topic name: 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit',
  schema: { type: 'string', pattern: TOPIC_NAME_PATTERN.source },
};

const invalidName = 'Not a topic name (INVALID_TOPIC_NAME; details: field), or a malformed path';

export const topicsArea: ApiArea = {
  tags: [
    {
      name: TAG,
      description:
        "The tenant's topics (newsletter, product-updates): a campaign may name one (topic at creation). Its unsubscribe page offers " +
        "that topic or everything, and its one-click unsubscribe leaves the topic only: a topic suppression holds back that topic's " +
        'campaigns, a global suppression every campaign. SES Subscription events map to the same model (OptOut of a topic suppresses ' +
        'for it, OptIn removes that, unsubscribeAll suppresses globally). Topic suppressions are read with ?topic= on /suppressions. ' +
        'A tenant has at most TOPICS_MAX_PER_TENANT (100) topics; a topic is never deleted (mailed links name it).',
    },
  ],
  schemas: {
    Topic: {
      type: 'object',
      required: ['name', 'display_name', 'description', 'created_at', 'updated_at'],
      properties: {
        name: { type: 'string', pattern: TOPIC_NAME_PATTERN.source },
        display_name: { type: 'string', description: 'How the unsubscribe page names it' },
        description: nullable('string'),
        created_at: dateTime,
        updated_at: dateTime,
      },
    },
    TopicPage: {
      type: 'object',
      required: ['items', 'next_cursor'],
      properties: { items: { type: 'array', items: ref('Topic') }, next_cursor: nullable('string') },
    },
  },
  paths: {
    '/api/v1/topics': {
      get: {
        ...meta('listTopics', 'List the topics', TAG),
        parameters: [{ ...limitParam, schema: { ...limitParam.schema, maximum: 100 } }, cursorParam],
        responses: v1({
          '200': ok('A page of topics, by name', ref('TopicPage')),
          '400': err('Invalid query or cursor (VALIDATION_FAILED, INVALID_CURSOR)'),
        }),
      },
    },
    '/api/v1/topics/{name}': {
      get: {
        ...meta('getTopic', 'Get a topic', TAG),
        parameters: [nameParam],
        responses: v1({ '200': ok('The topic', ref('Topic')), '400': err(invalidName) }, { path: true }),
      },
      put: {
        ...meta('putTopic', 'Create a topic or change its display name and description', TAG),
        parameters: [nameParam],
        requestBody: body(putTopicBody),
        responses: v1(
          {
            '200': ok('Updated', ref('Topic')),
            '201': ok('Created', ref('Topic')),
            '400': err(`${invalidName}, or an invalid body`),
            '413': err(
              'The body is larger than 64 KiB (BODY_TOO_LARGE), or the tenant has TOPICS_MAX_PER_TENANT topics (TOPIC_LIMIT_REACHED; details: max)',
            ),
          },
          { body: true, path: true },
        ),
      },
    },
  },
};
