// `npm run drills -- --only priority` (issue 17, item 3): priority and tenant fairness on the
// shared send queue, on a fresh local stack with a platform rate low enough to saturate.
//   1. A 50,000-recipient low-priority campaign sends at the platform rate; a 100-recipient
//      high-priority one started later: its first mail's latency from the request, its time to
//      finish, and the big one's rate before, during and after it.
//   2. Two tenants weighted 2 : 1 (TENANT_FAIRNESS_WEIGHTS) send one campaign each at once: their
//      shares of the platform rate over 20 s against their weights (the target: within ± 20 %).
// The figures are printed; the drill fails when a target is missed.
import { createAwsClients, destroyAwsClients } from '../../src/adapters/aws';
import { Store } from '../../src/adapters/dynamo/store';
import { seedTenant } from '../../src/local/dev-tenant';
import { apiClient, uploadCsv, uploadTemplate, waitForStatus, type ApiClient } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

const RATE = 10;
// Sender domains belong to one tenant each: B sends from its own.
const TENANT_B = { ...BENCH_TENANT, tenantId: 'drill-b', apiKey: 'drill-b-key-0123456789abcdef', senders: ['drill-b.example.org'] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(api: ApiClient, n: number, tag: string, extra: Record<string, unknown> = {}, from?: string) {
  const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>{{ name }}</p>', ...(from ? { from } : {}) });
  const csv = ['email,name', ...Array.from({ length: n }, (_, i) => `${tag}${Date.now()}x${i}@example.com,N${i}`)].join('\n');
  const fileId = await uploadCsv(api, csv);
  // The campaign starts at its request: the uploads before it are the client's.
  const requestedAt = Date.now();
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, ...extra });
  if (res.status !== 202) throw new Error(`campaign not accepted: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.transaction_id as string, requestedAt };
}

const sentOf = async (api: ApiClient, id: string) => (await api.get(`/api/v1/campaigns/${id}/status`)).body.counts.sent as number;

async function waitSent(api: ApiClient, id: string, atLeast: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while ((await sentOf(api, id)) < atLeast) {
    if (Date.now() > deadline) throw new Error(`campaign ${id} did not send ${atLeast} within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

/** Messages per second the campaign sent over `ms`. */
async function rateOver(api: ApiClient, id: string, ms: number) {
  const before = await sentOf(api, id);
  const t = Date.now();
  await sleep(ms);
  return ((await sentOf(api, id)) - before) / ((Date.now() - t) / 1000);
}

/** Where the high-priority campaign's time went: its status changes and its messages' SES send times, from the request. */
async function stepsOf(api: ApiClient, id: string, t0: number): Promise<string> {
  const status = (await api.get(`/api/v1/campaigns/${id}/status`)).body as { status_history: { status: string; timestamp: string }[] };
  const at = (iso: string) => ((Date.parse(iso) - t0) / 1000).toFixed(1);
  const history = status.status_history.map((h) => `${h.status} ${at(h.timestamp)} s`).join(', ');
  const sent: number[] = [];
  for (let cursor: string | null = null; ;) {
    const page = (await api.get(`/api/v1/campaigns/${id}/messages?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body as {
      items: { sent_time: string | null }[];
      next_cursor: string | null;
    };
    for (const m of page.items) if (m.sent_time) sent.push(Date.parse(m.sent_time));
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  sent.sort((x, y) => x - y);
  const sendTimes =
    sent.length > 0
      ? `first SES send ${at(new Date(sent[0]!).toISOString())} s, last ${at(new Date(sent.at(-1)!).toISOString())} s`
      : 'no send time';
  return `${history}; ${sendTimes}`;
}

export async function priorityDrill(): Promise<string> {
  const platform = await startPlatform({
    SEND_RATE_PER_SECOND: String(RATE),
    SEND_CHUNK_SIZE: '5',
    BATCH_SIZE: '1000',
    MAX_CONCURRENT_BATCHES: '4',
    TENANT_FAIRNESS_WEIGHTS: `${BENCH_TENANT.tenantId}=2,${TENANT_B.tenantId}=1`,
    TENANT_HIGH_PRIORITY: BENCH_TENANT.tenantId,
    FINAL_STATE_DEADLINE_SECONDS: '60',
  });
  const aws = createAwsClients(platform.config);
  await seedTenant(new Store(aws.doc, platform.config.DYNAMODB_TABLE), TENANT_B, TENANT_B.tenantId);
  destroyAwsClients(aws);
  const a = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
  const b = apiClient(platform.apiUrl, TENANT_B.apiKey);
  const failures: string[] = [];
  try {
    // 1. Priority.
    const { id: low } = await start(a, 50_000, 'low', { priority: 'low' });
    await waitSent(a, low, 200, 900_000);
    const before = await rateOver(a, low, 5_000);
    const { id: high, requestedAt: t0 } = await start(a, 100, 'high', { priority: 'high' });
    let first: number | undefined;
    let lowAtFirst = 0;
    for (;;) {
      const [h, l] = await Promise.all([sentOf(a, high), sentOf(a, low)]);
      if (first === undefined && h > 0) {
        first = Date.now();
        lowAtFirst = l;
      }
      if (h >= 100) break;
      if (Date.now() - t0 > 120_000) throw new Error(`the high-priority campaign sent ${h} of 100 in 120 s`);
      await sleep(100);
    }
    const done = Date.now();
    const lowDuring = ((await sentOf(a, low)) - lowAtFirst) / Math.max(0.001, (done - first!) / 1000);
    const after = await rateOver(a, low, 5_000);
    const firstS = (first! - t0) / 1000;
    const doneS = (done - t0) / 1000;
    if (firstS > 5) failures.push(`first mail of the high-priority campaign after ${firstS.toFixed(1)} s (target ≤ 5 s)`);
    if (lowDuring > 0.5 * before) failures.push(`the low-priority campaign kept ${lowDuring.toFixed(1)} msg/s while the high one sent`);
    await a.post(`/api/v1/campaigns/${low}/cancel`);
    await waitForStatus(a, low, ['CANCELLED'], 300_000);
    await waitForStatus(a, high, ['SENT', 'COMPLETED'], 120_000);
    const steps = await stepsOf(a, high, t0);

    // 2. Fairness between two tenants weighted 2 : 1.
    const [{ id: ca }, { id: cb }] = await Promise.all([
      start(a, 4_000, 'fair-a'),
      start(b, 4_000, 'fair-b', {}, `sender@${TENANT_B.senders[0]}`),
    ]);
    await Promise.all([waitSent(a, ca, 100, 300_000), waitSent(b, cb, 100, 300_000)]);
    const [ra, rb] = await Promise.all([rateOver(a, ca, 20_000), rateOver(b, cb, 20_000)]);
    const shareA = ra / (ra + rb);
    const expected = 2 / 3;
    if (Math.abs(shareA - expected) > 0.2 * expected)
      failures.push(`tenant shares ${shareA.toFixed(2)} : ${(1 - shareA).toFixed(2)} (weights 2 : 1)`);
    for (const [api, id] of [
      [a, ca],
      [b, cb],
    ] as const) {
      await api.post(`/api/v1/campaigns/${id}/cancel`);
      await waitForStatus(api, id, ['CANCELLED', 'SENT', 'COMPLETED'], 300_000);
    }

    const figures =
      `platform rate ${RATE}/s; low-priority 50,000: ${before.toFixed(1)} msg/s before, ${lowDuring.toFixed(1)} while the high one sent, ${after.toFixed(1)} after; ` +
      `high-priority 100: first mail ${firstS.toFixed(1)} s after the campaign's request, all 100 in ${doneS.toFixed(1)} s (${steps}); ` +
      `tenants weighted 2 : 1: ${ra.toFixed(1)} and ${rb.toFixed(1)} msg/s, shares ${shareA.toFixed(2)} : ${(1 - shareA).toFixed(2)}`;
    console.log(`[figures] priority drill: ${figures}`);
    if (failures.length > 0) throw new Error(`${failures.join('; ')} (${figures})`);
    return figures;
  } finally {
    await platform.stop();
  }
}
