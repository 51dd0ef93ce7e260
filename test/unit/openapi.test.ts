// The OpenAPI document as client generators read it: every operation named, described and
// grouped, a base URL, and schemas whose required fields are all defined. `npm run lint:openapi`
// lints the same document with Redocly's recommended rules.
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../api/openapi';
import type { CampaignAnalytics } from '../../src/adapters/opensearch';
import { statusView } from '../../api/routes/campaigns';
import { emptyCounts, type TransactionRecord } from '../../src/adapters/dynamo/types';
import { reconcile } from '../../src/domain/reconciliation';

type Schema = {
  type?: unknown;
  required?: string[];
  properties?: Record<string, Schema>;
  items?: Schema;
  $ref?: string;
  oneOf?: Schema[];
};
type Operation = { operationId?: string; summary?: string; tags?: string[] };

const operations = Object.entries(openApiDocument.paths).flatMap(([path, item]) =>
  Object.entries(item as Record<string, Operation>).map(([method, operation]) => ({ at: `${method.toUpperCase()} ${path}`, ...operation })),
);
const schemas = openApiDocument.components.schemas as Record<string, Schema>;
const resolve = (schema: Schema): Schema => {
  // A nullable object is `oneOf: [null, object]`: a non-null example is checked against the object.
  if (schema.oneOf) return resolve(schema.oneOf.find((s) => s.type !== 'null') ?? schema);
  return schema.$ref ? schemas[schema.$ref.replace('#/components/schemas/', '')]! : schema;
};

/** Every object schema in `value` whose `required` names a property it does not define. */
function undefinedRequired(value: unknown, at = '#'): string[] {
  if (!value || typeof value !== 'object') return [];
  const schema = value as Schema;
  const own =
    Array.isArray(schema.required) && schema.properties
      ? schema.required.filter((name) => !(name in schema.properties!)).map((name) => `${at}: ${name}`)
      : [];
  return [...own, ...Object.entries(value).flatMap(([key, child]) => undefinedRequired(child, `${at}/${key}`))];
}

/** Where `example` has a field the schema does not describe, or lacks one the schema requires. */
function mismatches(example: unknown, schema: Schema, at = 'body'): string[] {
  const s = resolve(schema);
  if (Array.isArray(example))
    return s.items ? example.flatMap((item, i) => mismatches(item, s.items!, `${at}[${i}]`)) : [`${at}: no items schema`];
  if (!example || typeof example !== 'object') return [];
  const properties = s.properties ?? {};
  return [
    ...(s.required ?? []).filter((name) => !(name in example)).map((name) => `${at}.${name}: required but missing`),
    ...Object.entries(example).flatMap(([key, child]) =>
      properties[key] ? mismatches(child, properties[key]!, `${at}.${key}`) : [`${at}.${key}: not in the schema`],
    ),
  ];
}

describe('OpenAPI document', () => {
  it('gives every operation a unique operationId, a summary and one declared tag', () => {
    const tags = new Set(openApiDocument.tags.map((t) => t.name));
    expect(operations.length).toBeGreaterThan(30);
    for (const op of operations) {
      expect(op.operationId, op.at).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.summary, op.at).toBeTruthy();
      expect(op.tags, op.at).toHaveLength(1);
      expect(tags.has(op.tags![0]!), op.at).toBe(true);
    }
    const ids = operations.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names a server', () => {
    expect(openApiDocument.servers.length).toBeGreaterThan(0);
    expect(openApiDocument.servers[0]!.url).toBe('/');
  });

  it('defines every property a schema requires', () => {
    expect(undefinedRequired(openApiDocument)).toEqual([]);
  });

  it('describes the analytics response the route sends', () => {
    // Typed: a field added to CampaignAnalytics fails to compile here until it is added (and then
    // fails below until the schema describes it too).
    const analytics: CampaignAnalytics = {
      status_breakdown: { DELIVERED: 2, BOUNCED: 1 },
      totals: { messages: 3, sent: 3, delivered: 2, bounced: 1, complained: 0, opened: 1, clicked: 1, events: 9 },
      engagement: { opened_unique: 1, opened_total: 2, clicked_unique: 1, clicked_total: 1 },
      rates: { bounce_rate: 1 / 3, complaint_rate: 0 },
      bounce_subtypes: [{ bounce_type: 'Permanent', bounce_subtype: 'General', count: 1 }],
      by_domain: [{ domain: 'example.org', messages: 3, sent: 3, delivered: 2, bounced: 1, complained: 0, opened: 1, clicked: 1 }],
      timeline: [{ at: '2026-12-01T10:00:00.000Z', total: 9, counts: { send: 3, delivery: 2, bounce: 1, open: 2, click: 1 } }],
      top_urls: [{ url: 'https://example.org/a', clicks: 1, unique_clicks: 1 }],
    };
    // As api/routes/campaigns.ts answers.
    const body = { transaction_id: 'txn', status: 'COMPLETED', indexing_backlog: 0, ...analytics };
    const paths = openApiDocument.paths as unknown as Record<
      string,
      { get: { responses: { '200': { content: { 'application/json': { schema: Schema } } } } } }
    >;
    const operation = paths['/api/v1/campaigns/{id}/analytics']!.get;
    const schema = operation.responses['200'].content['application/json'].schema;
    expect(mismatches(body, schema)).toEqual([]);
    expect(resolve(schema).required).toEqual(expect.arrayContaining(Object.keys(body)));
  });

  it('describes the status response of a COMPLETED campaign, reconciliation included', () => {
    const at = '2026-12-01T10:00:00.000Z';
    const counts = { ...emptyCounts(), sent: 3, delivered: 2, bounced: 1 };
    const txn: TransactionRecord = {
      transaction_id: 'txn',
      tenant_id: 't',
      status: 'COMPLETED',
      template_id: 'tpl',
      file_id: 'file',
      total_messages: 3,
      batch_count: 1,
      counts,
      reconciliation: reconcile({
        totals: {
          total: 3,
          sent: 3,
          failed: 0,
          suppressed: 0,
          cancelled: 0,
          delivered: 2,
          bounced: 1,
          complained: 0,
          batches: 1,
          unsent: 0,
          outcome_delivered: 2,
          outcome_bounced: 1,
          outcome_complained: 0,
          outcome_unknown: 0,
        },
        validRecipients: 3,
        batchCount: 1,
        counts,
        at,
      }),
      status_history: [{ status: 'ACCEPT', timestamp: at }],
      created_at: at,
      updated_at: at,
    };
    const paths = openApiDocument.paths as unknown as Record<
      string,
      { get: { responses: { '200': { content: { 'application/json': { schema: Schema } } } } } }
    >;
    const schema = paths['/api/v1/campaigns/{id}/status']!.get.responses['200'].content['application/json'].schema;
    for (const body of [statusView(txn), statusView({ ...txn, status: 'SENT', reconciliation: undefined })]) {
      expect(mismatches(JSON.parse(JSON.stringify(body)), schema)).toEqual([]);
      expect(resolve(schema).required).toEqual(expect.arrayContaining(Object.keys(body)));
    }
    expect(statusView(txn).reconciliation).toMatchObject({ balanced: true, valid_recipients: 3 });
  });
});
