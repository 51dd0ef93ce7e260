// Issue 17, item 3, on the local stack: a campaign's priority (high, normal, low) and its tenant's
// fairness key and weight (TENANT_FAIRNESS_WEIGHTS) go on its transaction workflow, and its batch
// workflows and their send activities inherit them, so the shared send queue dispatches by them.
// What they do under load is a drill (`npm run drills -- --only priority`), not a timed test.
import { describe, expect, it } from 'vitest';
import { batchWorkflowId, transactionWorkflowId, type BatchWorkflowInput } from '../../src/contracts';
import { TENANTS, apiClient, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine({
  temporal: true,
  config: { TENANT_FAIRNESS_WEIGHTS: `${TENANTS.a.tenantId}=2.5,someone-else=1`, TENANT_HIGH_PRIORITY: TENANTS.a.tenantId },
});
const api = engine.api;

const startedPriority = async (workflowId: string) => {
  const history = await engine.temporal.workflow.getHandle(workflowId).fetchHistory();
  return history.events![0]!.workflowExecutionStartedEventAttributes!.priority;
};

const startedInput = async (workflowId: string): Promise<BatchWorkflowInput> => {
  const history = await engine.temporal.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  return JSON.parse(Buffer.from(payload.data!).toString('utf8')) as BatchWorkflowInput;
};

describe('campaign priority', () => {
  it('starts the campaign with its priority key and its tenant as fairness key, which its batches inherit', async () => {
    const templateId = await uploadTemplate(api, { subject: 'Hi', html: '<p>Hi</p>' });
    const ids: Record<string, string> = {};
    for (const priority of ['high', 'low', undefined] as const) {
      const res = await api.post('/api/v1/campaigns', {
        template_id: templateId,
        file_id: await uploadCsv(api, `email\np-${priority}-${Date.now()}@example.com`),
        ...(priority ? { priority } : {}),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      ids[priority ?? 'normal'] = res.body.transaction_id;
    }
    const keys = { high: 1, normal: 3, low: 5 };
    for (const [priority, id] of Object.entries(ids)) {
      const status = await waitForStatus(api, id!, ['SENT', 'COMPLETED']);
      expect(status.priority).toBe(priority);
      const started = await startedPriority(transactionWorkflowId(id!));
      expect(started).toMatchObject({ priorityKey: keys[priority as keyof typeof keys], fairnessKey: TENANTS.a.tenantId });
      expect(started!.fairnessWeight).toBeCloseTo(2.5);
      // The batch child carries what it inherited.
      expect(await startedPriority(batchWorkflowId(id!, 1))).toMatchObject({
        priorityKey: keys[priority as keyof typeof keys],
        fairnessKey: TENANTS.a.tenantId,
      });
      // Only the high-priority campaign's batches send in lanes (HIGH_PRIORITY_SEND_LANES, default 4).
      expect((await startedInput(batchWorkflowId(id!, 1))).sendLanes).toBe(priority === 'high' ? 4 : undefined);
    }
    const bad = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: 'x', priority: 'urgent' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path)).toContain('priority');
  });

  it('lets only the tenants the operator named use priority high: a key outranks fairness', async () => {
    const other = apiClient(engine.url, TENANTS.b.apiKey);
    const templateId = await uploadTemplate(other, { from: `sender@${TENANTS.b.senders[0]}`, subject: 'Hi', html: '<p>Hi</p>' });
    const body = { template_id: templateId, file_id: await uploadCsv(other, `email\nq-${Date.now()}@example.com`) };
    const refused = await other.post('/api/v1/campaigns', { ...body, priority: 'high' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'PRIORITY_NOT_ALLOWED', details: { path: 'priority' } });
    const normal = await other.post('/api/v1/campaigns', { ...body, priority: 'normal' });
    expect(normal.status, JSON.stringify(normal.body)).toBe(202);
  });
});
