// Issue 14, item 11: retention, really enforced, on the local stack (with a genuine OpenSearch
// node of its own). DynamoDB Local never deletes expired items itself, so for messages and
// rejected rows the test checks what DynamoDB's TTL acts on: the table's TTL is on `expires_at`
// and ingest writes it (with the recipient key). Uploaded files and analytics documents are
// deleted by the retention sweep, run here by its Temporal Schedule with a tenant retention of
// seconds: old files go unless a campaign still ingests them; old documents go, per tenant.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useOpenSearchNode } from '../support/opensearch-node';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { createAwsClients, destroyAwsClients, type AwsClients } from '../../src/adapters/aws';
import { createTables } from '../../src/adapters/dynamo/tables';
import { Analytics } from '../../src/adapters/opensearch';
import { ObjectStore, s3Keys } from '../../src/adapters/s3';
import { transactionWorkflowId } from '../../src/contracts';
import { retentionScheduleId, type RetentionSweepResult } from '../../src/domain/erasure';
import { DAY_MS } from '../../src/domain/retention';
import { seedTenant } from '../../src/local/dev-tenant';
import { TENANTS, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

const node = useOpenSearchNode('retention');
const prefix = `retention${Date.now()}-`;
const engine = useEngine({
  temporal: true,
  config: () => ({
    OPENSEARCH_URL: node.url,
    OPENSEARCH_INDEX_PREFIX: prefix,
    // Tenants without a setting keep messages and analytics two days; a tenant may set seconds here.
    RETENTION_DAYS: '2',
    RETENTION_MIN_DAYS: '0',
    RETENTION_SWEEP_INTERVAL_SECONDS: '3600',
  }),
});
const api = engine.api;
const run = randomUUID().slice(0, 8);
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

let aws: AwsClients;
beforeAll(() => {
  aws = createAwsClients(engine.config);
});
afterAll(() => destroyAwsClients(aws));

describe('retention', () => {
  it("expires messages and rejected rows by DynamoDB's TTL, counted from the send time, and indexes them by recipient", async () => {
    const { TimeToLiveDescription: ttl } = await aws.dynamo.send(
      new DescribeTimeToLiveCommand({ TableName: engine.config.DYNAMODB_TABLE }),
    );
    expect(ttl).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expires_at' });
    const { Table } = await aws.dynamo.send(new DescribeTableCommand({ TableName: engine.config.DYNAMODB_TABLE }));
    expect(Table!.GlobalSecondaryIndexes!.find((i) => i.IndexName === 'gsi_recipient')?.KeySchema).toEqual([
      { AttributeName: 'recipient_key', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ]);

    const emails = [`kept-${run}@example.org`, `Other-${run}@Example.org`];
    const sendAt = new Date(Date.now() + DAY_MS).toISOString();
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const fileId = await uploadCsv(api, ['email', ...emails, 'not-an-address'].join('\n'));
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, schedule: { send_at: sendAt } });
    const id = started.body.transaction_id as string;
    await waitForStatus(api, id, ['SCHEDULED']);
    const expected = Math.ceil((Date.parse(sendAt) + 2 * DAY_MS) / 1000);

    const { messages } = createTables(aws.doc, engine.config.DYNAMODB_TABLE);
    const page = await messages.pageMessages(id, 'b00001', 10);
    expect(page.items.map((m) => [m.recipient_email, m.expires_at, (m as unknown as Record<string, unknown>).recipient_key])).toEqual(
      emails.map((e) => [e.toLowerCase(), expected, `${TENANTS.a.tenantId}#${sha256(e.toLowerCase())}`]),
    );
    const { Items: rows } = await aws.doc.send(
      new QueryCommand({
        TableName: engine.config.DYNAMODB_TABLE,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :e)',
        ExpressionAttributeValues: { ':pk': `TRANSACTION#${id}`, ':e': 'ERROR#' },
      }),
    );
    // Not an address: the row expires, but names nobody the recipient index could find.
    expect(rows).toEqual([expect.objectContaining({ email: 'not-an-address', code: 'INVALID_EMAIL', expires_at: expected })]);
    expect(rows![0]).not.toHaveProperty('recipient_key');
    // The API shows the rejected row as it always did.
    expect((await api.get(`/api/v1/campaigns/${id}/errors`)).body.items).toEqual([
      { row: 3, email: 'not-an-address', code: 'INVALID_EMAIL', message: expect.any(String) },
    ]);
    expect((await api.post(`/api/v1/campaigns/${id}/cancel`)).status).toBe(202);
  });

  it('sweeps old files and analytics on its schedule, per tenant, and never a file a campaign still ingests', async () => {
    const { store } = createTables(aws.doc, engine.config.DYNAMODB_TABLE);
    const objects = new ObjectStore(aws.s3, engine.config.S3_BUCKET);
    const tenant = { tenantId: `retention-${run}`, apiKey: `retention-key-${run}-0123456789`, webhookSecret: TENANTS.a.webhookSecret };
    await seedTenant(store, tenant, 'retention test');
    const client = engine.apiFor(tenant.apiKey);

    // The tenant keeps uploads three seconds and analytics a minute.
    const set = await client.put('/api/v1/recipients/retention', { upload_retention_days: 3 / 86400, retention_days: 60 / 86400 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      upload_retention_days: 3 / 86400,
      retention_days: 60 / 86400,
      defaults: { retention_days: 2, minimum_days: 0 },
    });
    const readOnly = await client.post('/api/v1/api-keys', { name: 'reader', scopes: ['recipients:read', 'recipients:write'] });
    const refused = await engine.apiFor(readOnly.body.secret).put('/api/v1/recipients/retention', { retention_days: 1 });
    expect(refused.status).toBe(403);

    const [ingesting, legacy, stuck] = await Promise.all(['a', 'b', 'c'].map((n) => uploadCsv(client, `email\n${n}-${run}@example.org\n`)));
    const upload = (fileId: string) => s3Keys.file(tenant.tenantId, fileId);
    const pinned = (fileId: string) => s3Keys.pinnedFile(tenant.tenantId, fileId, 'v1');
    for (const fileId of [ingesting!, stuck!]) expect(await objects.copy(upload(fileId), pinned(fileId))).toBe(true);
    // Campaigns in PROCESSING: one reading its pinned copy, one from before pinning reading the
    // upload (both with their workflow running, on a queue no worker polls), and one whose
    // workflow is gone (a record left behind: its file is not protected).
    const campaign = async (fileId: string, fileKey: string | undefined, running: boolean) => {
      const txn = await store.createTransaction({
        transaction_id: randomUUID(),
        tenant_id: tenant.tenantId,
        template_id: 'none',
        file_id: fileId,
        ...(fileKey ? { file_key: fileKey } : {}),
      });
      expect(await store.setTransactionStatus(txn.transaction_id, 'PROCESSING')).toBe(true);
      if (running) {
        await engine.temporal.workflow.start('transactionWorkflow', {
          workflowId: transactionWorkflowId(txn.transaction_id),
          taskQueue: `nobody-polls-${run}`,
          args: [{}],
        });
      }
      return txn.transaction_id;
    };
    const ingestingId = await campaign(ingesting!, pinned(ingesting!), true);
    const legacyId = await campaign(legacy!, undefined, true);
    await campaign(stuck!, pinned(stuck!), false);

    const analytics = new Analytics({ node: node.url, prefix, replicas: 0 });
    await analytics.ensureTemplates();
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const now = new Date().toISOString();
    const event = (id: string, tenantId: string, timestamp: string) => ({
      id,
      transaction_id: 't',
      message_id: id,
      tenant_id: tenantId,
      recipient_domain: 'example.org',
      event_type: 'delivery' as const,
      timestamp,
    });
    await analytics.indexEvents(
      [event('old', tenant.tenantId, hourAgo), event('new', tenant.tenantId, now), event('other-tenant-old', TENANTS.a.tenantId, hourAgo)],
      { refresh: true },
    );
    await analytics.upsertMessages(
      [
        { id: 'm-old', tenant_id: tenant.tenantId, transaction_id: 't', status: 'DELIVERED', updated_at: hourAgo },
        { id: 'm-new', tenant_id: tenant.tenantId, transaction_id: 't', status: 'DELIVERED', updated_at: now },
      ],
      { refresh: true },
    );
    await new Promise((r) => setTimeout(r, 4000));

    const schedule = engine.temporal.schedule.getHandle(retentionScheduleId(engine.config.TEMPORAL_TASK_QUEUE));
    const described = await schedule.describe();
    expect(described.spec.intervals).toEqual([expect.objectContaining({ every: 3600_000 })]);
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionWorkflow' });
    const sweep = async (): Promise<RetentionSweepResult> => {
      const before = (await schedule.describe()).info.recentActions.length;
      await schedule.trigger();
      const action = await waitFor('the sweep to start', async () => (await schedule.describe()).info.recentActions[before]);
      const { workflowId, firstExecutionRunId } = action.action.workflow;
      return engine.temporal.workflow.getHandle(workflowId, firstExecutionRunId).result();
    };
    const exists = async (key: string) => (await objects.size(key)) !== undefined;

    const first = await sweep();
    expect(first).toMatchObject({ files_deleted: 3, files_kept_in_use: 2, event_documents_deleted: 1, message_documents_deleted: 1 });
    expect(await exists(pinned(ingesting!))).toBe(true);
    expect(await exists(upload(legacy!))).toBe(true);
    for (const key of [upload(ingesting!), upload(stuck!), pinned(stuck!)]) expect(await exists(key), key).toBe(false);
    await analytics.refresh();
    const ids = async (index: string) =>
      (
        (await analytics.client.search({ index, body: { size: 100, query: { match_all: {} } } as never })).body.hits.hits as {
          _id: string;
        }[]
      )
        .map((h) => h._id)
        .sort();
    expect(await ids(analytics.eventsIndex)).toEqual(['new', 'other-tenant-old']);
    expect(await ids(analytics.messagesIndex)).toEqual(['m-new']);

    // The campaign finished ingesting; the other one's workflow ended: their files go next time.
    expect(await store.setTransactionStatus(ingestingId, 'READY_TO_SEND')).toBe(true);
    for (const id of [ingestingId, legacyId]) await engine.temporal.workflow.getHandle(transactionWorkflowId(id)).terminate('test over');
    const second = await sweep();
    expect(second).toMatchObject({ files_deleted: 2, files_kept_in_use: 0, event_documents_deleted: 0 });
    expect(await exists(pinned(ingesting!))).toBe(false);
    expect(await exists(upload(legacy!))).toBe(false);
    await analytics.close();
  });
});
