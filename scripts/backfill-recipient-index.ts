// One-off migration for retention and erasure: messages and rejected rows written before the
// recipient index get their recipient_key (so subject access and erasure find them) and
// expires_at (so DynamoDB's TTL deletes them after their tenant's retention, counted from when
// they were written). A scan of the whole table, page by page; each page's cursor is printed,
// and passing it back as the argument resumes there. Items already migrated are left alone.
//   npx tsx scripts/backfill-recipient-index.ts [cursor]
import { createAwsClients, destroyAwsClients } from '../src/adapters/aws';
import { RecipientTable } from '../src/adapters/dynamo/recipients';
import { loadConfig, retentionDefaults } from '../src/config';
import { effectiveRetention, expiresAtSeconds } from '../src/domain/retention';

async function main() {
  const config = loadConfig();
  const aws = createAwsClients(config);
  const recipients = new RecipientTable(aws.doc, config.DYNAMODB_TABLE);
  const days = new Map<string, Promise<number>>();
  const retentionDays = (tenantId: string) => {
    if (!days.has(tenantId)) {
      days.set(
        tenantId,
        recipients.getRetention(tenantId).then((own) => effectiveRetention(own, retentionDefaults(config)).days),
      );
    }
    return days.get(tenantId)!;
  };
  const expiresAt = async (tenantId: string, createdAt: string) => expiresAtSeconds(Date.parse(createdAt), await retentionDays(tenantId));
  let cursor = process.argv[2] ? (JSON.parse(Buffer.from(process.argv[2], 'base64url').toString()) as Record<string, unknown>) : undefined;
  let updated = 0;
  let tooLarge = 0;
  try {
    do {
      const page = await recipients.backfillPage(expiresAt, cursor);
      updated += page.updated;
      tooLarge += page.tooLarge.length;
      // Subject access and erasure will not find these through the index: listed for the operator.
      for (const key of page.tooLarge) console.error(JSON.stringify({ msg: 'item at the size limit, not indexed', key }));
      cursor = page.cursor;
      const next = cursor ? Buffer.from(JSON.stringify(cursor)).toString('base64url') : null;
      console.log(JSON.stringify({ msg: 'backfill page', updated, too_large: tooLarge, cursor: next }));
    } while (cursor);
    if (tooLarge > 0) process.exitCode = 2;
  } finally {
    destroyAwsClients(aws);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
