// A worker process is killed (SIGKILL) in the middle of sending; a new one picks the campaign
// up and every valid recipient ends up with exactly one email.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  header,
  sesInbox,
  startApi,
  startSnsPipeline,
  TENANTS,
  testConfig,
  uploadCsv,
  uploadTemplate,
  waitFor,
  waitForStatus,
  type ApiClient,
} from '../support/harness';

// As on the real platform, SES Send events flow back (here from the local event source): a
// message the killed worker handed to SES but never recorded is marked SENT by its Send event
// within the grace period, so the new worker does not send it again.
const base = testConfig();
let pipeline: Awaited<ReturnType<typeof startSnsPipeline>>;
let config: ReturnType<typeof testConfig>;
const ROOT = join(__dirname, '..', '..');
let server: Awaited<ReturnType<typeof startApi>>;
let api: ApiClient;
const children: ChildProcess[] = [];

function startWorkerProcess(): Promise<ChildProcess> {
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  for (const [key, value] of Object.entries(config)) if (value !== undefined) env[key] = String(value);
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'workers', 'main.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('worker running')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${log.slice(-2000)}`)));
  });
}

beforeAll(async () => {
  pipeline = await startSnsPipeline(base);
  config = testConfig({ ...pipeline.env, SEND_CHUNK_SIZE: '10', BATCH_SIZE: '100', MAX_CONCURRENT_BATCHES: '3', SENDING_GRACE_SECONDS: '5', FINAL_STATE_DEADLINE_SECONDS: '60' });
  server = await startApi(config);
  await pipeline.connect(server.url, 200);
  api = apiClient(server.url, TENANTS.a.apiKey);
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await pipeline?.stop();
  await server?.close();
});

describe('worker killed mid-send', () => {
  it('resumes on a new worker and sends every recipient exactly once', async () => {
    const n = 300;
    const csv = ['email,name', ...Array.from({ length: n }, (_, i) => `kill${i}@example.com,K${i}`)].join('\n');
    const templateId = await uploadTemplate(api, { subject: 'Hi {{ name }}', html: '<p>{{ name }}</p>' });
    const fileId = await uploadCsv(api, csv);
    const first = await startWorkerProcess();
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: fileId,
      throttle: { emails_per_minute: 3000 },
    });
    const id = started.body.transaction_id as string;

    const sentBeforeKill = await waitFor('some messages sent', async () => {
      const status = await api.get(`/api/v1/campaigns/${id}/status`);
      return status.body.counts.sent >= 60 ? (status.body.counts.sent as number) : undefined;
    });
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const inboxAtKill = (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id).length;
    expect(inboxAtKill).toBeLessThan(n);
    expect(sentBeforeKill).toBeGreaterThanOrEqual(60);

    await startWorkerProcess();
    const final = await waitForStatus(api, id, ['SENT', 'COMPLETED', 'FAILED'], 150_000);
    expect(['SENT', 'COMPLETED']).toContain(final.status);
    expect(final.counts.sent).toBe(n);

    const mine = (await sesInbox(config)).filter((e) => header(e, 'X-Transaction-Id') === id);
    const perRecipient = new Map<string, number>();
    for (const mail of mine) perRecipient.set(mail.destination.to[0]!, (perRecipient.get(mail.destination.to[0]!) ?? 0) + 1);
    expect(perRecipient.size).toBe(n);
    expect([...perRecipient.values()].filter((c) => c !== 1)).toEqual([]);
  });
});
