// The same campaign started many times at once with one Idempotency-Key, through two API
// instances, is one transaction that sends once; the key with another body is a 409.
import { describe, expect, it } from 'vitest';
import { header, sesInbox, TENANTS, uploadCsv, uploadTemplate, useEngine, waitForStatus } from '../support/harness';

const engine = useEngine({ config: { FINAL_STATE_DEADLINE_SECONDS: '1' }, workers: 2, apis: 2 });

describe('Idempotency-Key across API instances', () => {
  it('makes one transaction of concurrent identical requests and refuses the key for another body', async () => {
    const [a, b] = [engine.api, engine.apiFor(TENANTS.a.apiKey, 1)];
    const templateId = await uploadTemplate(a, { subject: 'Once', html: '<p>once</p>' });
    const fileId = await uploadCsv(a, `email\nonce-${Date.now()}@example.com\ntwice-${Date.now()}@example.com\n`);
    const body = { template_id: templateId, file_id: fileId };
    const key = `key-${Date.now()}`;
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).post('/api/v1/campaigns', body, { 'Idempotency-Key': key })),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(202));
    const ids = new Set(responses.map((r) => r.body.transaction_id));
    expect(ids.size).toBe(1);
    const id = [...ids][0] as string;

    const other = await a.post('/api/v1/campaigns', { ...body, callback_url: 'https://example.com/hook' }, { 'Idempotency-Key': key });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The same key belongs to its tenant only.
    const otherTenant = engine.apiFor(TENANTS.b.apiKey);
    expect((await otherTenant.post('/api/v1/campaigns', body, { 'Idempotency-Key': key })).status).toBe(404);

    await waitForStatus(a, id, ['COMPLETED']);
    expect((await sesInbox(engine.config)).filter((e) => header(e, 'X-Transaction-Id') === id)).toHaveLength(2);
    const replay = await b.post('/api/v1/campaigns', body, { 'Idempotency-Key': key });
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ transaction_id: id, status: 'COMPLETED' });
  });
});
