// What a test send hands to SES (src/templates/preview.ts), with stand-ins at the ports: the
// test marks (header and SES tag), the sender identity the check found, suppressed addresses left
// out, and nothing sent when the hourly limit or a render refuses the request. The stack test
// (test/e2e/template-versions.e2e.test.ts) sends through the SES emulator, which keeps no tags.
import { describe, expect, it } from 'vitest';
import type { OutgoingEmail } from '../../src/adapters/ses';
import type { TemplateVersionRecord } from '../../src/adapters/dynamo/types';
import { DomainError } from '../../src/domain/errors';
import { parseTemplate } from '../../src/domain/template';
import { testSend } from '../../src/templates/preview';

const html = '<p>Hi {{ first_name }} {{ email }}</p>';
const parsed = parseTemplate({ html, subject: 'Hi {{ first_name }}' });
if (!parsed.ok) throw new Error('template');
const version: TemplateVersionRecord = {
  template_id: 'tpl1',
  tenant_id: 'tenant-a',
  version: 3,
  subject: 'Hi {{ first_name }}',
  from: 'News <news@example.com>',
  status: 'READY',
  placeholders: parsed.placeholders,
  required_placeholders: parsed.required,
  optional_placeholders: parsed.optional,
  s3_key: 'upload',
  pinned_key: 'pinned',
  pinned_bytes: Buffer.byteLength(html),
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
};
const sender = { ok: true as const, identityArn: 'arn:aws:ses:eu-west-1:1:identity/example.com', configurationSet: 'tenant-set' };

function standIns(opts: { room?: number; suppressed?: string[] } = {}) {
  const sent: OutgoingEmail[] = [];
  let room = opts.room ?? 20;
  return {
    sent,
    deps: {
      objects: {
        readUpTo: async (key: string) => (key === 'pinned' ? { body: Buffer.from(html), size: Buffer.byteLength(html) } : undefined),
      },
      templates: {
        reserveTestSends: async (_tenant: string, count: number) => {
          if (count > room) return false;
          room -= count;
          return true;
        },
      },
      suppressions: {
        suppressedOrErasedAmong: async (_tenant: string, emails: string[]) => new Set(emails.filter((e) => opts.suppressed?.includes(e))),
      },
      messenger: {
        send: async (email: OutgoingEmail) => {
          sent.push(email);
          return { messageId: `ses-${sent.length}` };
        },
      },
      maxPerHour: 20,
    },
  };
}

describe('test send', () => {
  it('marks each mail as a test, sends as the checked identity, and leaves suppressed addresses out', async () => {
    const { deps, sent } = standIns({ suppressed: ['b@example.com'] });
    const results = await testSend(deps, version, sender, ['A@Example.com', 'b@example.com'], { first_name: 'Ada' });
    expect(results).toEqual([
      { to: 'a@example.com', status: 'sent', ses_message_id: 'ses-1' },
      { to: 'b@example.com', status: 'suppressed' },
    ]);
    expect(sent).toEqual([
      {
        from: 'News <news@example.com>',
        to: 'a@example.com',
        replyTo: undefined,
        subject: 'Hi Ada',
        html: '<p>Hi Ada a@example.com</p>',
        headers: { 'X-Engine-Test': 'true', 'X-Template-Id': 'tpl1', 'X-Template-Version': '3' },
        tags: { test: 'true', template_id: 'tpl1', template_version: '3' },
        fromIdentityArn: sender.identityArn,
        configurationSet: 'tenant-set',
      },
    ]);
  });

  it('sends nothing past the hourly limit, or when the row cannot render', async () => {
    const { deps, sent } = standIns({ room: 1 });
    const limited = testSend(deps, version, sender, ['a@example.com', 'c@example.com'], { first_name: 'Ada' });
    await expect(limited).rejects.toMatchObject({ kind: 'rate_limited', code: 'TEST_SEND_LIMIT' });
    const missing = testSend(deps, version, sender, ['a@example.com'], {});
    await expect(missing).rejects.toBeInstanceOf(DomainError);
    await expect(missing).rejects.toMatchObject({ code: 'MISSING_PLACEHOLDERS', details: { placeholders: ['first_name'] } });
    expect(sent).toEqual([]);
    // The one left this hour is still there.
    expect(await testSend(deps, version, sender, ['a@example.com'], { first_name: 'Ada' })).toHaveLength(1);
  });
});
