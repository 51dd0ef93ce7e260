// The floor the engine is compared with (issue 18, item 4): a campaign's essential I/O done by
// a minimal program, without Temporal, on the same stack and with the engine's own clients.
// It seeds N message items (not timed), then times
//   A "send":   each batch's items read with Query, one SES SendEmail per message at the
//               engine's total SES concurrency, then one conditional UpdateItem recording the
//               SES id (status READY → SENT);
//   B "events": one conditional UpdateItem per message applying its Delivery (SENT → DELIVERED).
// The floor's total is A + B. No events are posted for its mail: the caller stops the local
// event source first, so the API never sees these messages.
import { randomUUID } from 'node:crypto';
import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { Config } from '../../src/config';
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { TableWriter } from '../../src/adapters/dynamo/write-pool';
import { sendEmailInput } from '../../src/adapters/ses';

export interface FloorResult {
  messages: number;
  batches: number;
  ses_concurrency: number;
  update_concurrency: number;
  seed_s: number;
  send_s: number;
  events_s: number;
  total_s: number;
  send_messages_per_s: number;
  events_per_s: number;
}

const round = (n: number, d = 1) => Number(n.toFixed(d));

export async function runFloor(
  config: Config,
  opts: { messages: number; batchSize: number; sesConcurrency: number; updateConcurrency?: number; progress?: (line: string) => void },
): Promise<FloorResult> {
  const { messages: n, batchSize, sesConcurrency } = opts;
  // The events phase has no SES call to wait for: as many writes in flight as the raw update rate uses.
  const updateConcurrency = opts.updateConcurrency ?? 32;
  const aws = createAwsClients(config);
  const table = config.DYNAMODB_TABLE;
  const run = randomUUID().slice(0, 8);
  const batches = Math.ceil(n / batchSize);
  const pk = (b: number) => `FLOOR#${run}#b${String(b).padStart(5, '0')}`;
  const key = (i: number) => ({ PK: pk(Math.floor(i / batchSize)), SK: `MESSAGE#${String(i).padStart(9, '0')}` });
  const to = (i: number) => `f${i}@example${i % 3}.com`;
  try {
    // Seeding, not timed: the engine's writer, a batch at a time (the array of a whole large
    // campaign would be the bench's biggest allocation).
    const seedStarted = Date.now();
    const writer = new TableWriter(aws.doc, table);
    for (let b = 0; b < batches; b++) {
      const items = [];
      for (let i = b * batchSize; i < Math.min(n, (b + 1) * batchSize); i++)
        items.push({ ...key(i), status: 'READY', recipient_email: to(i), name: `Reader ${i}`, payload: 'x'.repeat(200) });
      await writer.writeAll(items);
      opts.progress?.(`floor: seeded ${Math.min(n, (b + 1) * batchSize)}/${n}`);
    }
    const seedS = (Date.now() - seedStarted) / 1000;

    // A: the next batch is read while the current one's messages are sent, so the senders never
    // wait at a batch boundary; every sender takes the next message from one shared sequence.
    const readBatch = async (b: number) => {
      const items: { PK: string; SK: string; recipient_email: string }[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await aws.doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'PK = :pk',
            ExpressionAttributeValues: { ':pk': pk(b) },
            ExclusiveStartKey: start,
          }),
        );
        items.push(...((page.Items ?? []) as typeof items));
        start = page.LastEvaluatedKey;
      } while (start);
      return items;
    };
    async function* toSend() {
      let pending = readBatch(0);
      for (let b = 0; b < batches; b++) {
        const items = await pending;
        if (b + 1 < batches) pending = readBatch(b + 1);
        yield* items;
      }
    }
    const queue = toSend();
    let sent = 0;
    const sendStarted = Date.now();
    await Promise.all(
      Array.from({ length: sesConcurrency }, async () => {
        for (let next = await queue.next(); !next.done; next = await queue.next()) {
          const m = next.value;
          const { MessageId } = await aws.ses.send(
            new SendEmailCommand(
              sendEmailInput(
                {
                  from: 'sender@example.com',
                  to: m.recipient_email,
                  subject: 'Floor',
                  html: '<p>Hi, this is the floor.</p>',
                  headers: {},
                  tags: {},
                },
                config.SES_CONFIGURATION_SET,
              ),
            ),
          );
          await aws.doc.send(
            new UpdateCommand({
              TableName: table,
              Key: { PK: m.PK, SK: m.SK },
              UpdateExpression: 'SET #s = :sent, ses_message_id = :id, sent_time = :at',
              ConditionExpression: '#s = :ready',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':sent': 'SENT', ':ready': 'READY', ':id': MessageId, ':at': new Date().toISOString() },
            }),
          );
          if (++sent % 500 === 0) opts.progress?.(`floor: sent ${sent}/${n}`);
        }
      }),
    );
    const sendS = (Date.now() - sendStarted) / 1000;
    if (sent !== n) throw new Error(`floor sent ${sent} of ${n} messages`);

    // B: a Delivery per message, as one conditional write each.
    let applied = 0;
    let next = 0;
    const eventsStarted = Date.now();
    await Promise.all(
      Array.from({ length: updateConcurrency }, async () => {
        while (next < n) {
          const i = next++;
          await aws.doc.send(
            new UpdateCommand({
              TableName: table,
              Key: key(i),
              UpdateExpression: 'SET #s = :delivered, delivered_time = :at',
              ConditionExpression: '#s = :sent',
              ExpressionAttributeNames: { '#s': 'status' },
              ExpressionAttributeValues: { ':delivered': 'DELIVERED', ':sent': 'SENT', ':at': new Date().toISOString() },
            }),
          );
          if (++applied % 500 === 0) opts.progress?.(`floor: delivered ${applied}/${n}`);
        }
      }),
    );
    const eventsS = (Date.now() - eventsStarted) / 1000;
    return {
      messages: n,
      batches,
      ses_concurrency: sesConcurrency,
      update_concurrency: updateConcurrency,
      seed_s: round(seedS, 2),
      send_s: round(sendS, 2),
      events_s: round(eventsS, 2),
      total_s: round(sendS + eventsS, 2),
      send_messages_per_s: round(n / sendS),
      events_per_s: round(n / eventsS),
    };
  } finally {
    destroyAwsClients(aws);
  }
}
