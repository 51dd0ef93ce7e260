// The single table and its indexes. Created from code for the local stack (idempotently);
// production creates the same definition with infrastructure as code.
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceNotFoundException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';

export const GSI_SES_MESSAGE = 'gsi_ses_message';
export const GSI_TENANT = 'gsi_tenant';
export const GSI_RECIPIENT = 'gsi_recipient';
/** The table's TTL attribute (epoch seconds): messages, rejected rows and suppression tombstones expire by it. */
export const TTL_ATTRIBUTE = 'expires_at';

export function tableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'PK', AttributeType: 'S' },
      { AttributeName: 'SK', AttributeType: 'S' },
      { AttributeName: 'ses_message_id', AttributeType: 'S' },
      { AttributeName: 'GSI2PK', AttributeType: 'S' },
      { AttributeName: 'GSI2SK', AttributeType: 'S' },
      { AttributeName: 'recipient_key', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        // Sparse: only messages SES accepted carry ses_message_id.
        IndexName: GSI_SES_MESSAGE,
        KeySchema: [{ AttributeName: 'ses_message_id', KeyType: 'HASH' }],
        Projection: {
          ProjectionType: 'INCLUDE',
          NonKeyAttributes: ['message_id', 'batch_id', 'transaction_id', 'tenant_id'],
        },
      },
      {
        // A tenant's transactions, newest last.
        IndexName: GSI_TENANT,
        KeySchema: [
          { AttributeName: 'GSI2PK', KeyType: 'HASH' },
          { AttributeName: 'GSI2SK', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        // Sparse: one person's messages and rejected rows for one tenant (recipient_key =
        // <tenant>#<sha256 of the address>, written at ingest), for subject access and erasure
        // without a scan. Items written before the index lack the key (see README, "Retention").
        IndexName: GSI_RECIPIENT,
        KeySchema: [
          { AttributeName: 'recipient_key', KeyType: 'HASH' },
          { AttributeName: 'SK', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['transaction_id', 'message_id', 'status'] },
      },
    ],
  };
}

/**
 * Creates the table if it is missing, then adds what a table created by older code lacks (an
 * index, TTL): a persistent local stack keeps its table across versions.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<'created' | 'exists'> {
  const state = await createTableIfMissing(client, tableName);
  await ensureIndexes(client, tableName);
  await ensureTimeToLive(client, tableName);
  return state;
}

async function createTableIfMissing(client: DynamoDBClient, tableName: string): Promise<'created' | 'exists'> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return 'exists';
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    // Another process created it between our describe and create.
    if ((error as { name?: string }).name !== 'ResourceInUseException') throw error;
  }
  await waitUntil(client, tableName, (table) => table.TableStatus === 'ACTIVE');
  return 'created';
}

async function waitUntil(client: DynamoDBClient, tableName: string, done: (table: TableDescription) => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table && done(Table)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}

/** Adds each index of the definition the table lacks (one UpdateTable each, as DynamoDB requires), and waits for it. */
async function ensureIndexes(client: DynamoDBClient, tableName: string): Promise<void> {
  const definition = tableDefinition(tableName);
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  for (const index of definition.GlobalSecondaryIndexes ?? []) {
    if (present.has(index.IndexName)) continue;
    try {
      await client.send(
        new UpdateTableCommand({
          TableName: tableName,
          AttributeDefinitions: definition.AttributeDefinitions,
          GlobalSecondaryIndexUpdates: [{ Create: index as GlobalSecondaryIndex }],
        }),
      );
    } catch (error) {
      // Another process is adding it at the same moment.
      if (!/already exists|ResourceInUse/i.test(`${(error as Error).name} ${(error as Error).message}`)) throw error;
    }
    await waitUntil(client, tableName, (table) =>
      (table.GlobalSecondaryIndexes ?? []).some((i) => i.IndexName === index.IndexName && (i.IndexStatus ?? 'ACTIVE') === 'ACTIVE'),
    );
  }
}

/**
 * Turns on TTL on `expires_at`. DynamoDB Local accepts and reports the setting but never deletes
 * an expired item itself; dynalite (the fallback without Java) has no TTL at all.
 */
async function ensureTimeToLive(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    const { TimeToLiveDescription: ttl } = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    if (ttl?.TimeToLiveStatus === 'ENABLED' || ttl?.TimeToLiveStatus === 'ENABLING') return;
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: TTL_ATTRIBUTE } }),
    );
  } catch (error) {
    const { name = '', message = '' } = error as Error;
    if (name === 'UnknownOperationException' || /already enabled/i.test(message)) return;
    throw error;
  }
}
