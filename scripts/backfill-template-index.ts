// One-off migration for the template listing (issue 15, item 2): templates stored before
// GET /api/v1/templates existed get their entry in the tenant index (GSI_TENANT), so they are
// listed. A scan of the whole table, page by page; each page's cursor is printed, and passing it
// back as the argument resumes there. Templates already listed are left alone.
//   npx tsx scripts/backfill-template-index.ts [cursor]
import { createAwsClients, destroyAwsClients } from '../src/adapters/aws';
import { TemplateTable } from '../src/adapters/dynamo/templates';
import { loadConfig } from '../src/config';

async function main() {
  const config = loadConfig();
  const aws = createAwsClients(config);
  const templates = new TemplateTable(aws.doc, config.DYNAMODB_TABLE);
  let cursor = process.argv[2] ? (JSON.parse(Buffer.from(process.argv[2], 'base64url').toString()) as Record<string, unknown>) : undefined;
  let updated = 0;
  try {
    do {
      const page = await templates.backfillListingPage(cursor);
      updated += page.updated;
      cursor = page.cursor;
      const next = cursor ? Buffer.from(JSON.stringify(cursor)).toString('base64url') : null;
      console.log(JSON.stringify({ msg: 'backfill page', updated, cursor: next }));
    } while (cursor);
  } finally {
    destroyAwsClients(aws);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
