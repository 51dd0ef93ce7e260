// The physical limits the engine is measured against, taken in the same run on the same
// machine: DynamoDB BatchWriteItem items/s and conditional UpdateItem calls/s, SES SendEmail
// calls/s at the engine's concurrency,
// and Temporal empty-activity round trips/s.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { TableWriter } from '../../src/adapters/dynamo/write-pool';
import { SesMessenger } from '../../src/adapters/ses';

async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

export async function dynamoWriteRate(config: Config, items = 20_000): Promise<number> {
  const aws = createAwsClients(config);
  const store = new TableWriter(aws.doc, config.DYNAMODB_TABLE);
  const run = randomUUID();
  const payload = 'x'.repeat(200); // about the size of a message item
  const started = Date.now();
  await pool(items / 100, 4, async (g) => {
    await store.writeAll(Array.from({ length: 100 }, (_, i) => ({ PK: `BENCH#${run}#${g}`, SK: `ITEM#${i}`, payload })));
  });
  destroyAwsClients(aws);
  return items / ((Date.now() - started) / 1000);
}

/**
 * Conditional single-item UpdateItem calls/s at the send path's concurrency: the kind of write
 * the send path makes twice per message (SENDING, then SENT with the SES id).
 */
export async function dynamoConditionalUpdateRate(config: Config, items = 4_000, concurrency = 32): Promise<number> {
  const aws = createAwsClients(config);
  const store = new TableWriter(aws.doc, config.DYNAMODB_TABLE);
  const run = randomUUID();
  const key = (i: number) => ({ PK: `BENCHU#${run}#${i % 100}`, SK: `ITEM#${i}` });
  await store.writeAll(Array.from({ length: items }, (_, i) => ({ ...key(i), status: 'READY_TO_SEND', payload: 'x'.repeat(200) })));
  const started = Date.now();
  await pool(items, concurrency, (i) =>
    aws.doc.send(
      new UpdateCommand({
        TableName: config.DYNAMODB_TABLE,
        Key: key(i),
        UpdateExpression: 'SET #s = :to, updated_at = :at',
        ConditionExpression: '#s IN (:from)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':to': 'SENDING', ':from': 'READY_TO_SEND', ':at': new Date().toISOString() },
      }),
    ),
  );
  destroyAwsClients(aws);
  return items / ((Date.now() - started) / 1000);
}

export async function sesSendRate(config: Config, calls = 2_000, concurrency = 8): Promise<number> {
  const aws = createAwsClients(config);
  const ses = new SesMessenger(aws.ses, config.SES_CONFIGURATION_SET);
  const started = Date.now();
  await pool(calls, concurrency, (i) =>
    ses.send({ from: 'bench@example.com', to: `raw${i}@example.com`, subject: 'raw', html: '<p>raw</p>', headers: {}, tags: {} }),
  );
  destroyAwsClients(aws);
  return calls / ((Date.now() - started) / 1000);
}

export async function temporalActivityRate(config: Config, count = 2_000, parallel = 20): Promise<number> {
  const taskQueue = `bench-noop-${randomUUID().slice(0, 8)}`;
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: join(__dirname, 'noop.workflow.ts'),
    activities: { noop: async () => undefined },
  });
  const client = new Client({
    connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS! }),
    namespace: config.TEMPORAL_NAMESPACE,
  });
  const rate = await worker.runUntil(async () => {
    const started = Date.now();
    await client.workflow.execute('noopActivities', { taskQueue, workflowId: taskQueue, args: [count, parallel] });
    return count / ((Date.now() - started) / 1000);
  });
  await client.connection.close();
  await connection.close();
  return rate;
}

/** Event documents OpenSearch indexes per second through the engine's bulk path. */
export async function openSearchIndexRate(url: string, docs = 20_000): Promise<number> {
  const { Analytics } = await import('../../src/adapters/opensearch');
  const analytics = new Analytics({ node: url, prefix: `bench-${randomUUID().slice(0, 8)}-` });
  await analytics.ensureTemplates();
  const at = new Date().toISOString();
  const batch = (start: number) =>
    Array.from({ length: 1000 }, (_, i) => ({
      id: `e${start + i}`,
      transaction_id: 'bench',
      message_id: `m${start + i}`,
      tenant_id: 'bench',
      recipient_domain: `example${(start + i) % 3}.com`,
      event_type: 'delivery' as const,
      timestamp: at,
    }));
  const started = Date.now();
  for (let i = 0; i < docs; i += 1000) await analytics.indexEvents(batch(i));
  const rate = docs / ((Date.now() - started) / 1000);
  await analytics.close();
  return rate;
}
