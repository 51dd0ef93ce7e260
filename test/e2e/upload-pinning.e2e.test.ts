// Issue 13 item 5, end to end: a template's bytes are fixed at confirm and a CSV's at campaign
// creation, whatever the tenant writes through the presigned URLs afterwards. The scenario is
// the short version of `npm run drills -- --only mutated-upload` (test/drills/upload-drills.ts).
import { describe, expect, it } from 'vitest';
import { mutatedUpload } from '../drills/upload-drills';
import { TENANTS, useEngine } from '../support/harness';

const engine = useEngine({ events: 'connect', config: { OUTCOME_POLL_SECONDS: '5', FINAL_STATE_DEADLINE_SECONDS: '120' } });
const api = engine.api;

describe('uploads pinned at confirm and at campaign creation', () => {
  it('template and CSV replaced through their presigned URLs afterwards: the campaign sends what was confirmed, each valid recipient once', async () => {
    const result = await mutatedUpload(
      { config: engine.config, apiUrl: engine.url, a: TENANTS.a, b: TENANTS.b },
      { recipients: 60, timeoutMs: 120_000 },
    );
    console.info('mutated upload:', result.line);
    expect(result.mailed).toBe(54);
  });

  it('confirm reads no more than the limit and refuses a larger upload (413), then still accepts a fitting one at the same URL', async () => {
    const created = await api.post('/api/v1/templates/presigned-url', { name: 'big', subject: 'Hi', from: 'sender@example.com' });
    const put = (body: string) => fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body });
    await put('x'.repeat(engine.config.MAX_TEMPLATE_BYTES + 1));
    const tooLarge = await api.post(`/api/v1/templates/${created.body.template_id}/confirm`);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error).toMatchObject({
      code: 'TEMPLATE_TOO_LARGE',
      message: expect.stringContaining(`${engine.config.MAX_TEMPLATE_BYTES + 1} bytes`),
    });
    await put('<p>fits</p>');
    const confirmed = await api.post(`/api/v1/templates/${created.body.template_id}/confirm`);
    expect(confirmed.status).toBe(200);
    expect((await api.get(`/api/v1/templates/${created.body.template_id}`)).body.status).toBe('READY');
  });
});
