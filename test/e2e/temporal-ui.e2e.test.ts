// Issue 16, item 6, on the local stack: what an operator sees of a campaign in the Temporal UI.
// A named, tagged, scheduled campaign goes through the real engine; the Temporal client then
// reads what the UI reads: the user metadata of the transaction and of a batch (describe()),
// their current details (the __temporal_workflow_metadata query, while scheduled and at the
// end), the summaries on the send_at timer and on the activities in the histories, and the
// `CampaignName` / `Tags` search attributes as list filters. Records the histories of this
// path (ui-summaries patch) for test/replay.
import { describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { uid } from '../integration/fixtures';
import { batchWorkflowId, searchAttributeKeys, transactionWorkflowId } from '../../src/contracts';
import { uploadCsv, useEngine, waitFor, waitForStatus, TENANTS } from '../support/harness';
import { recordHistory } from '../support/histories';

// Five recipients in batches of two (three batches), one message a chunk; no SES events reach
// this file, so batches stop waiting for outcomes after 2 s.
const engine = useEngine({
  temporal: true,
  template: { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' },
  config: { BATCH_SIZE: '2', SEND_CHUNK_SIZE: '1', MAX_CONCURRENT_BATCHES: '2', FINAL_STATE_DEADLINE_SECONDS: '2' },
});
const run = uid();
const name = `Winter sale ${run}`;
const tag = `ui-${run}`;

async function startCampaign(fields: Record<string, unknown>, recipients: number): Promise<string> {
  const csv = ['email,name', ...Array.from({ length: recipients }, (_, i) => `ui${i}-${run}@example.com,N${i}`)].join('\n');
  const fileId = await uploadCsv(engine.api, csv);
  const res = await engine.api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, ...fields });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.transaction_id as string;
}

const currentDetails = async (client: Client, workflowId: string) =>
  (await client.workflow.getHandle(workflowId).query(workflowMetadataQuery)).currentDetails ?? '';

const summaryOf = (event: temporal.api.history.v1.IHistoryEvent) =>
  event.userMetadata?.summary ? defaultPayloadConverter.fromPayload<string>(event.userMetadata.summary) : undefined;

/** Workflow ids a visibility query lists (waits until it lists `expected` many: visibility lags a little). */
async function listed(client: Client, query: string, expected: number): Promise<string[]> {
  return waitFor(`${expected} workflows for ${query}`, async () => {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
    return ids.length >= expected ? ids.sort() : undefined;
  });
}

describe('the Temporal UI', () => {
  it('shows a campaign by name, tenant, recipients and progress, with summarised timers and activities, filterable by name and tag', async () => {
    const client = engine.temporal;
    const sendAt = new Date(Date.now() + 10_000).toISOString();
    const id = await startCampaign({ name, tags: [tag, 'newsletter'], schedule: { send_at: sendAt } }, 5);
    // Another campaign of the same run: same tag namespace, other name and tags; the filters must leave it out.
    const other = await startCampaign({ name: `${name} (other)`, tags: [`${tag}-other`] }, 1);
    const workflowId = transactionWorkflowId(id);

    // While scheduled, the current details say so and when it sends.
    await waitForStatus(engine.api, id, ['SCHEDULED']);
    const scheduled = await waitFor('SCHEDULED current details', async () => {
      const details = await currentDetails(client, workflowId);
      return details.startsWith('**SCHEDULED**') ? details : undefined;
    });
    expect(scheduled).toBe(`**SCHEDULED** · sends at ${sendAt} · sent 0 of 5 · batches 0/3 started, 0 sent, 0 completed`);

    const final = await waitForStatus(engine.api, id, ['COMPLETED'], 120_000);
    expect(final.counts.sent).toBe(5);
    await waitForStatus(engine.api, other, ['COMPLETED'], 120_000);

    // The transaction's user metadata, as the UI's workflow page shows it.
    const description = await client.workflow.getHandle(workflowId).describe();
    expect(await description.staticSummary()).toBe(
      `Campaign "Winter sale ${run}" · tenant ${TENANTS.a.tenantId} · tags ${tag}, newsletter`,
    );
    const details = (await description.staticDetails())!.split('\n');
    expect(details).toEqual(
      expect.arrayContaining([
        `**Campaign** Winter sale ${run}`,
        `**Transaction** ${id}`,
        `**Tenant** ${TENANTS.a.tenantId}`,
        `**Template** ${engine.templateId} (version 1)`,
        `**Tags** ${tag}, newsletter`,
        `**Send at** ${sendAt}`,
        '**Throttle** none (platform rate)',
      ]),
    );
    expect(description.typedSearchAttributes.get(searchAttributeKeys.campaignName)).toBe(name);
    expect(description.typedSearchAttributes.get(searchAttributeKeys.tags)).toEqual([tag, 'newsletter']);
    expect(await currentDetails(client, workflowId)).toBe('**COMPLETED** · sent 5 of 5 · batches 3/3 started, 3 sent, 3 completed');

    // A batch: which slice of which campaign, and where it ended.
    const batch = await client.workflow.getHandle(batchWorkflowId(id, 2)).describe();
    expect(await batch.staticSummary()).toBe(`Batch 2 of 3 · recipients 3–4 of 5 · campaign "Winter sale ${run}"`);
    expect((await batch.staticDetails())!.split('\n')).toEqual(
      expect.arrayContaining([
        `**Transaction** ${id}`,
        '**Batch** b00002 (2 of 3)',
        "**Recipients** 3–4 (positions among the file's valid rows)",
      ]),
    );
    expect(await currentDetails(client, batchWorkflowId(id, 2))).toBe('**done: 2 without an outcome** · b00002 · 2 of 2 sent');
    const last = await client.workflow.getHandle(batchWorkflowId(id, 3)).describe();
    expect(await last.staticSummary()).toBe(`Batch 3 of 3 · recipients 5–5 of 5 · campaign "Winter sale ${run}"`);

    // The event histories: the send_at timer, the status activities and each send chunk say what they are.
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const timers = history.events!.filter((e) => e.timerStartedEventAttributes).map(summaryOf);
    expect(timers).toContain(`send_at ${sendAt}`);
    const activities = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map(summaryOf);
    expect(activities).toEqual(expect.arrayContaining(['status → PROCESSING', 'status → SCHEDULED', 'status → COMPLETED']));
    expect(activities.some((s) => s?.startsWith('ingest recipient file '))).toBe(true);
    const children = history.events!.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    expect(children).toHaveLength(3);
    const batchHistory = await client.workflow.getHandle(batchWorkflowId(id, 2)).fetchHistory();
    const chunks = batchHistory.events!.filter((e) => e.activityTaskScheduledEventAttributes).map(summaryOf);
    expect(chunks.slice(0, 2)).toEqual(['send b00002 messages 1–1', 'send b00002 messages 2–2']);
    // Then perhaps the read past the last message (the store's page said there might be more), the proof pass, the recounts.
    const rest = chunks.slice(2);
    if (rest[0]?.startsWith('send ')) expect(rest.shift()).toBe('send b00002: after its last message, nothing left expected');
    expect(rest.slice(0, 2)).toEqual(['prove b00002 sent: pass 1 over unsettled messages', 'recount b00002 (sent)']);
    expect(rest.slice(2).every((s) => s === 'recount b00002 (outcomes)' || s === 'recount b00002 (completed)')).toBe(true);

    // The search attributes as the UI's filters: exactly this campaign (batches carry neither).
    expect(await listed(client, `CampaignName = "${name}"`, 1)).toEqual([workflowId]);
    expect(await listed(client, `Tags = "${tag}"`, 1)).toEqual([workflowId]);
    expect(await listed(client, `Tags = "${tag}-other"`, 1)).toEqual([transactionWorkflowId(other)]);
    expect(await listed(client, `CampaignName = "${name}" AND Tags = "newsletter"`, 1)).toEqual([workflowId]);

    await recordHistory(client, workflowId, 'ui-transaction-sent');
    await recordHistory(client, batchWorkflowId(id, 2), 'ui-batch-sent');
  });
});
