// deliverWebhook against a real local HTTP receiver: body, Standard Webhooks signature with the
// tenant's secret, and which answers are retried (5xx, 408, 429, network) and which are final.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { emptyCounts } from '../../src/adapters/dynamo/types';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { generateWebhookSecret, verifyWebhook } from '../../src/domain/webhook-signature';
import { seedTenant } from '../../src/local/dev-tenant';
import type { CampaignLabels } from '../../src/domain/campaign-labels';
import { createFile, createTemplate, createTransaction, expectFailure, runActivity, setupDeps, TENANTS, uid } from './fixtures';

const { deps, activities, close } = setupDeps();

interface Received {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}
let received: Received[] = [];
let answer: (path: string) => { status: number; headers?: Record<string, string>; hang?: boolean } = () => ({ status: 204 });
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const a = answer(req.url ?? '');
      if (a.hang) return; // never answers
      res.writeHead(a.status, a.headers);
      res.end('{"ok":false}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  close();
});
beforeEach(() => {
  received = [];
  answer = () => ({ status: 204 });
});

async function txnWithCallback(callbackUrl: string | undefined, tenantId: string = TENANTS.a.tenantId, labels?: CampaignLabels) {
  const templateId = await createTemplate(deps, { tenantId, subject: 'Hi', html: '<p>Hi</p>' });
  const fileId = await createFile(deps, 'email\n', tenantId);
  return createTransaction(deps, { templateId, fileId, tenantId, callbackUrl, extra: labels });
}

const request = (transactionId: string) => ({ transactionId, status: 'SENT' as const, timestamp: '2026-01-02T03:04:05.000Z' });

describe('deliverWebhook', () => {
  it("POSTs the status, summary and the campaign's labels, signed with the tenant secret (Standard Webhooks)", async () => {
    const labels = { name: 'Spring sale', tags: ['spring', 'eu'], metadata: { crm_id: 'c-42' } };
    const txn = await txnWithCallback(`${baseUrl}/hooks/a?x=1`, TENANTS.a.tenantId, labels);
    await deps.store.setTransactionFields(txn.transaction_id, { total_messages: 10 });
    await deps.store.updateCounts(txn.transaction_id, { sent: 7, failed: 1, suppressed: 2 }, 'set');
    const before = Math.floor(Date.now() / 1000);

    const { result } = await runActivity(activities.deliverWebhook, [request(txn.transaction_id)]);

    expect(result).toBe('delivered');
    expect(received).toHaveLength(1);
    const hook = received[0]!;
    expect(hook.method).toBe('POST');
    expect(hook.path).toBe('/hooks/a?x=1');
    expect(hook.headers['content-type']).toBe('application/json');
    expect(JSON.parse(hook.body)).toEqual({
      transaction_id: txn.transaction_id,
      status: 'SENT',
      timestamp: '2026-01-02T03:04:05.000Z',
      summary: { total_messages: 10, ...emptyCounts(), sent: 7, failed: 1, suppressed: 2 },
      ...labels,
    });
    expect(hook.headers['webhook-id']).toBe(`msg_${txn.transaction_id}_sent`);
    expect(Number(hook.headers['webhook-timestamp'])).toBeGreaterThanOrEqual(before);
    expect(hook.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verifyWebhook(TENANTS.a.webhookSecret, hook.headers, hook.body)).toBe(true);
    expect(verifyWebhook(TENANTS.b.webhookSecret, hook.headers, hook.body)).toBe(false);
    expect(verifyWebhook(TENANTS.a.webhookSecret, hook.headers, hook.body.replace('"SENT"', '"FAILED"'))).toBe(false);
  });

  it('is verified by the official Standard Webhooks library (npm standardwebhooks), generated secrets included', async () => {
    const fresh = { tenantId: `hooks-${uid()}`, apiKey: `hooks-key-${uid()}`, webhookSecret: generateWebhookSecret() };
    await seedTenant(deps.store, fresh, fresh.tenantId);
    const sent = await txnWithCallback(`${baseUrl}/hooks/official-a`);
    const completed = await txnWithCallback(`${baseUrl}/hooks/official-fresh`, fresh.tenantId);
    await runActivity(activities.deliverWebhook, [request(sent.transaction_id)]);
    await runActivity(activities.deliverWebhook, [{ ...request(completed.transaction_id), status: 'COMPLETED' }]);
    const [a, b] = received as [Received, Received];
    const signed = (hook: Received) =>
      Object.fromEntries(Object.entries(hook.headers).filter(([name]) => name.startsWith('webhook-'))) as Record<string, string>;

    expect(new Webhook(TENANTS.a.webhookSecret).verify(a.body, signed(a))).toEqual(JSON.parse(a.body));
    expect(new Webhook(fresh.webhookSecret).verify(b.body, signed(b))).toMatchObject({
      transaction_id: completed.transaction_id,
      status: 'COMPLETED',
    });
    expect(() => new Webhook(fresh.webhookSecret).verify(a.body, signed(a))).toThrow(WebhookVerificationError);
    expect(() => new Webhook(TENANTS.a.webhookSecret).verify(a.body.replace('"SENT"', '"FAILED"'), signed(a))).toThrow(
      WebhookVerificationError,
    );
  });

  it("signs with the transaction's own tenant secret", async () => {
    const txn = await txnWithCallback(`${baseUrl}/hooks/b`, TENANTS.b.tenantId);
    await runActivity(activities.deliverWebhook, [request(txn.transaction_id)]);
    const hook = received[0]!;
    expect(verifyWebhook(TENANTS.b.webhookSecret, hook.headers, hook.body)).toBe(true);
    expect(verifyWebhook(TENANTS.a.webhookSecret, hook.headers, hook.body)).toBe(false);
  });

  it('keeps the same webhook-id for a redelivery of the same status change', async () => {
    const txn = await txnWithCallback(`${baseUrl}/hooks/again`);
    await runActivity(activities.deliverWebhook, [request(txn.transaction_id)]);
    await runActivity(activities.deliverWebhook, [request(txn.transaction_id)], { attempt: 2 });
    await runActivity(activities.deliverWebhook, [{ ...request(txn.transaction_id), status: 'COMPLETED' }]);
    expect(received.map((r) => r.headers['webhook-id'])).toEqual([
      `msg_${txn.transaction_id}_sent`,
      `msg_${txn.transaction_id}_sent`,
      `msg_${txn.transaction_id}_completed`,
    ]);
  });

  it.each([500, 502, 503, 429, 408])('treats HTTP %i as retryable', async (status) => {
    answer = () => ({ status });
    const txn = await txnWithCallback(`${baseUrl}/hooks/${status}`);
    const failure = await expectFailure(activities.deliverWebhook, [request(txn.transaction_id)]);
    expect(failure.type).toBe('WebhookRetryable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.details?.[0]).toMatchObject({ http_status: status });
    expect(received).toHaveLength(1);
  });

  it.each([400, 401, 404, 410])('treats HTTP %i as final (WebhookRejected, non-retryable)', async (status) => {
    answer = () => ({ status });
    const txn = await txnWithCallback(`${baseUrl}/hooks/${status}`);
    const failure = await expectFailure(activities.deliverWebhook, [request(txn.transaction_id)]);
    expect(failure.type).toBe('WebhookRejected');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`HTTP ${status}`);
  });

  it('stops posting to a callback that answered 410 Gone', async () => {
    answer = () => ({ status: 410 });
    const txn = await txnWithCallback(`${baseUrl}/hooks/gone`);
    await expectFailure(activities.deliverWebhook, [request(txn.transaction_id)]);
    answer = () => ({ status: 204 });
    const { result } = await runActivity(activities.deliverWebhook, [{ ...request(txn.transaction_id), status: 'SENT' }]);
    expect(result).toBe('callback_gone');
    expect(received).toHaveLength(1);
  });

  it('does not follow a redirect', async () => {
    answer = (path) => (path === '/hooks/moved' ? { status: 302, headers: { location: `${baseUrl}/hooks/elsewhere` } } : { status: 204 });
    const txn = await txnWithCallback(`${baseUrl}/hooks/moved`);
    const failure = await expectFailure(activities.deliverWebhook, [request(txn.transaction_id)]);
    expect(failure.type).toBe('WebhookRejected');
    expect(received.map((r) => r.path)).toEqual(['/hooks/moved']);
  });

  it('fails retryably when the receiver cannot be reached or does not answer in time', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const unreachable = await txnWithCallback(`http://127.0.0.1:${port}/hooks`);
    const refused = await expectFailure(activities.deliverWebhook, [request(unreachable.transaction_id)]);
    expect(refused.type).toBe('WebhookUnreachable');
    expect(refused.nonRetryable).toBe(false);

    answer = () => ({ status: 204, hang: true });
    const impatient = createActivities({ ...deps, settings: { ...deps.settings, webhookTimeoutMs: 300 } });
    const slow = await txnWithCallback(`${baseUrl}/hooks/slow`);
    const started = Date.now();
    const timedOut = await expectFailure(impatient.deliverWebhook, [request(slow.transaction_id)]);
    expect(timedOut.type).toBe('WebhookUnreachable');
    expect(timedOut.nonRetryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("returns 'no_callback' when the transaction has no callback_url (or does not exist)", async () => {
    const txn = await txnWithCallback(undefined);
    expect((await runActivity(activities.deliverWebhook, [request(txn.transaction_id)])).result).toBe('no_callback');
    expect((await runActivity(activities.deliverWebhook, [request('txn-does-not-exist')])).result).toBe('no_callback');
    expect(received).toHaveLength(0);
  });
});
