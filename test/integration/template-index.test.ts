// The template listing's migration against DynamoDB Local: a template stored before the listing
// existed (no tenant index keys) is listed once scripts/backfill-template-index.ts's page walk
// has run, in its place by creation time, and a second walk changes nothing.
// Also the hourly allowance of test sends, which lives with the templates.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/adapters/dynamo/keys';
import type { TemplateRecord } from '../../src/adapters/dynamo/types';
import type { Cursor } from '../../src/ports';
import { setupDeps, TENANTS, uid } from './fixtures';

const { config, deps, close } = setupDeps();
afterAll(() => close());

async function walk(): Promise<number> {
  let updated = 0;
  let cursor: Cursor | undefined;
  do {
    const page = await deps.templates.backfillListingPage(cursor);
    updated += page.updated;
    cursor = page.cursor;
  } while (cursor);
  return updated;
}

async function listedIds(tenantId: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: Cursor | undefined;
  do {
    const page = await deps.templates.listTemplates(tenantId, 100, cursor);
    ids.push(...page.items.map((t) => t.template_id));
    cursor = page.cursor;
  } while (cursor);
  return ids;
}

describe('template listing backfill', () => {
  it('lists a template stored before the listing, newest first, once', { timeout: 120_000 }, async () => {
    const at = '2020-01-02T03:04:05.000Z';
    const old: TemplateRecord = {
      template_id: `tpl-${uid()}`,
      tenant_id: TENANTS.b.tenantId,
      name: 'stored before the listing',
      subject: 'Hi',
      from: 'sender@example.org',
      status: 'READY',
      s3_key: 'tenants/x/templates/old.html',
      created_at: at,
      updated_at: at,
    };
    // As the store wrote templates then: the record under its keys, no tenant index keys.
    await deps.store.doc.send(new PutCommand({ TableName: config.DYNAMODB_TABLE, Item: { ...keys.template(old.template_id), ...old } }));
    expect(await listedIds(TENANTS.b.tenantId)).not.toContain(old.template_id);

    expect(await walk()).toBeGreaterThanOrEqual(1);
    const listed = await listedIds(TENANTS.b.tenantId);
    // The oldest of the tenant's templates: last.
    expect(listed.at(-1)).toBe(old.template_id);
    expect(await listedIds(TENANTS.a.tenantId)).not.toContain(old.template_id);
    expect((await deps.templates.getTemplateVersion(TENANTS.b.tenantId, old.template_id, 1))?.status).toBe('READY');
    // Already listed: the next walk leaves it alone.
    expect(await walk()).toBe(0);
  });
});

describe('test-send allowance', () => {
  it('holds every request of the hour to the limit, the first one too', async () => {
    const tenant = `tenant-${uid()}`;
    const at = new Date('2026-03-04T05:06:07.000Z');
    // The hour's first request asks for more than the whole hour allows.
    expect(await deps.templates.reserveTestSends(tenant, 5, 3, at)).toBe(false);
    expect(await deps.templates.reserveTestSends(tenant, 3, 3, at)).toBe(true);
    expect(await deps.templates.reserveTestSends(tenant, 1, 3, at)).toBe(false);
    // The next hour starts afresh.
    expect(await deps.templates.reserveTestSends(tenant, 2, 3, new Date('2026-03-04T06:00:00.000Z'))).toBe(true);
    expect(await deps.templates.reserveTestSends(tenant, 2, 3, new Date('2026-03-04T06:59:59.000Z'))).toBe(false);
  });
});
