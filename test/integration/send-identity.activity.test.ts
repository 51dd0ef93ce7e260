// Issue 14, item 1 at the send path, against DynamoDB Local, s3rver and the SES v2 emulator:
// before each chunk the template's `from` and `reply_to` are checked against the tenant's sender
// identities again (one read per chunk). A template made while the tenant held its identity
// fails its messages with SENDER_NOT_AUTHORISED once the identity is given up, or once SES no
// longer has it verified, in an attempt that succeeds, and nothing reaches SES. A send names the
// identity's ARN and the tenant's configuration set (the identity's when the tenant may use it:
// the engine's or the tenant record's; else the tenant record's).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Info } from '@temporalio/activity';
import { createActivities } from '../../activities';
import { sendEmailInput, type Messenger, type OutgoingEmail } from '../../src/adapters/ses';
import { generateWebhookSecret } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import { header, sesInbox } from '../support/harness';
import { allMessages, createFile, createTemplate, createTransaction, runActivity, setupDeps, transaction, uid } from './fixtures';

const { config, deps, activities, close } = setupDeps();
afterAll(() => close());

const runId = `run-${uid()}`;
const infoFor = (activityId: string): Partial<Info> => ({
  activityId,
  attempt: 1,
  workflowExecution: { workflowId: `wf-${activityId}`, runId },
});
const mailsFor = async (transactionId: string) => (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === transactionId);

/** A tenant of this file with a domain of its own and an address at another of its domains. */
const domain = `sid-${uid()}.example`;
const replyDomain = `sid-reply-${uid()}.example`;
const tenant = {
  tenantId: `sid-${uid()}`,
  apiKey: `sid-key-${uid()}`,
  webhookSecret: generateWebhookSecret(),
  senders: [domain, `help@${replyDomain}`],
};
beforeAll(() => seedTenant(deps.store, tenant));

/** The real activities with a messenger that records each email on its way to the SES emulator. */
function recordingActivities(over: Partial<typeof deps> = {}) {
  const sent: OutgoingEmail[] = [];
  const messenger: Messenger = { send: (email, signal) => (sent.push(email), deps.messenger.send(email, signal)) };
  return { sent, activities: createActivities({ ...deps, messenger, ...over }) };
}

/** A campaign of `n` recipients of the tenant's template, ingested in one batch. */
async function campaign(n: number, template: { from: string; replyTo?: string } = { from: `News <news@${domain}>` }) {
  const id = uid();
  const templateId = await createTemplate(deps, { tenantId: tenant.tenantId, subject: 'Hi', html: '<p>Hi {{ email }}</p>', ...template });
  const fileId = await createFile(
    deps,
    ['email', ...Array.from({ length: n }, (_, i) => `r${i}-${id}@example.org`)].join('\n'),
    tenant.tenantId,
  );
  const txn = await createTransaction(deps, { templateId, fileId, tenantId: tenant.tenantId });
  await runActivity(activities.ingestRecipients, [
    { transactionId: txn.transaction_id, tenantId: tenant.tenantId, templateId, fileId, batchSize: 50 },
  ]);
  return {
    txn,
    input: {
      transactionId: txn.transaction_id,
      tenantId: tenant.tenantId,
      templateId,
      batchId: 'b00001',
      limit: 50,
      sendingGraceMs: 60_000,
    },
  };
}

/** Every message FAILED with SENDER_NOT_AUTHORISED and `reason`; the attempt succeeded, the counters count them, SES has none. */
async function expectRefused(result: { sent: number; failed: number }, transactionId: string, n: number, reason: RegExp) {
  expect(result).toMatchObject({ sent: 0, failed: n });
  for (const m of await allMessages(deps, transactionId)) {
    expect(m.status).toBe('FAILED');
    expect(m.status_history.at(-1)!.metadata).toMatchObject({ code: 'SENDER_NOT_AUTHORISED' });
    expect(m.failure_reason).toMatch(reason);
  }
  expect((await transaction(deps, transactionId)).counts).toMatchObject({ sent: 0, failed: n });
  expect(await mailsFor(transactionId)).toEqual([]);
}

describe('the sender check at send time', () => {
  it('sends as the identity that covers from, naming its ARN, with one identity read for the whole chunk', async () => {
    const { txn, input } = await campaign(5, { from: `News <news@${domain}>`, replyTo: `help@${replyDomain}` });
    let reads = 0;
    const identities = {
      senderIdentities: (...args: Parameters<typeof deps.identities.senderIdentities>) => (
        reads++,
        deps.identities.senderIdentities(...args)
      ),
    };
    const { sent, activities: recording } = recordingActivities({ identities } as Partial<typeof deps>);
    const { result } = await runActivity(recording.sendBatchChunk, [input], infoFor(`ok-${uid()}`));
    expect(result).toMatchObject({ sent: 5, failed: 0 });
    expect(reads).toBe(1);
    expect(new Set(sent.map((e) => e.fromIdentityArn))).toEqual(new Set([`arn:aws:ses:us-east-1:000000000000:identity/${domain}`]));
    // Neither the identity nor the tenant has a configuration set: the engine's.
    expect(sendEmailInput(sent[0]!, config.SES_CONFIGURATION_SET).ConfigurationSetName).toBe(config.SES_CONFIGURATION_SET);
    const mails = await mailsFor(txn.transaction_id);
    expect(mails).toHaveLength(5);
    expect(mails[0]!.from).toContain(`news@${domain}`);
    expect(mails[0]!.replyTo).toEqual([`help@${replyDomain}`]);
  });

  it('fails every message with SENDER_NOT_AUTHORISED once the identity is given up, and none reaches SES', async () => {
    const { txn, input } = await campaign(4);
    // The template was made while the tenant held the domain; now it gives it up.
    expect(await deps.identities.releaseIdentity(tenant.tenantId, domain)).toBe(true);
    try {
      const { result } = await runActivity(activities.sendBatchChunk, [input], infoFor(`gone-${uid()}`));
      await expectRefused(result, txn.transaction_id, 4, /^from: news@sid-.* is not covered by a sender identity of this tenant$/);
    } finally {
      await seedTenant(deps.store, tenant);
    }
  });

  it('fails them too when SES no longer has the identity verified', async () => {
    const { txn, input } = await campaign(3);
    const identityVerifier = {
      arn: deps.identityVerifier.arn.bind(deps.identityVerifier),
      sendingState: async () => ({ verifiedForSending: false, verificationStatus: 'FAILED', dkimTokens: [] }),
    };
    const { sent, activities: recording } = recordingActivities({ identityVerifier } as Partial<typeof deps>);
    const { result } = await runActivity(recording.sendBatchChunk, [input], infoFor(`unverified-${uid()}`));
    await expectRefused(
      result,
      txn.transaction_id,
      3,
      new RegExp(`^from: the identity ${domain} is not verified for sending \\(FAILED\\)$`),
    );
    expect(sent).toEqual([]);
  });

  it('checks reply_to as well', async () => {
    const { txn, input } = await campaign(2, { from: `news@${domain}`, replyTo: `other@${replyDomain}` });
    const { result } = await runActivity(activities.sendBatchChunk, [input], infoFor(`reply-${uid()}`));
    await expectRefused(result, txn.transaction_id, 2, /^reply_to: other@sid-reply-.* is not covered/);
  });
});

describe("the tenant's configuration set", () => {
  it("sends with the identity's configuration set only if the tenant may use it (the engine's or its own), else the tenant record's", async () => {
    const seeded = await deps.store.getTenant(tenant.tenantId);
    await deps.store.putTenant({ ...seeded!, ses_configuration_set: 'tenant-set' }, tenant.apiKey);
    const setsOfCampaign = async (label: string) => {
      const { sent, activities: recording } = recordingActivities();
      const { txn, input } = await campaign(2);
      await runActivity(recording.sendBatchChunk, [input], infoFor(`${label}-${uid()}`));
      return { txn, sets: sent.map((e) => sendEmailInput(e, config.SES_CONFIGURATION_SET).ConfigurationSetName) };
    };
    try {
      expect((await setsOfCampaign('tenant-set')).sets).toEqual(['tenant-set', 'tenant-set']);
      // An identity that names the engine's set goes out with it, past the tenant's.
      await deps.identities.updateIdentity(tenant.tenantId, domain, { configuration_set: config.SES_CONFIGURATION_SET });
      const viaEngine = await setsOfCampaign('engine-set');
      expect(viaEngine.sets).toEqual([config.SES_CONFIGURATION_SET, config.SES_CONFIGURATION_SET]);
      // The SES emulator took them: they went out.
      expect(await mailsFor(viaEngine.txn.transaction_id)).toHaveLength(2);
      // A set the tenant may not use (another tenant's, or its own before the operator reassigned
      // it), as an identity stored before the API refused it holds: the tenant record's instead.
      await deps.identities.updateIdentity(tenant.tenantId, domain, { configuration_set: 'another-tenants-set' });
      expect((await setsOfCampaign('not-allowed')).sets).toEqual(['tenant-set', 'tenant-set']);
    } finally {
      await deps.identities.updateIdentity(tenant.tenantId, domain, { configuration_set: null });
      await deps.store.putTenant(seeded!, tenant.apiKey);
    }
  });
});
