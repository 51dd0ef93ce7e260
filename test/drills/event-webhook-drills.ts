// `npm run drills -- --only event-webhooks` (issue 17, item 1): a 2,000-recipient campaign with
// an event webhook endpoint subscribed to every event type; the receiver goes down once the first
// events arrived, for 5 minutes (EVENT_WEBHOOK_DRILL_OUTAGE_SECONDS), then comes back. Every
// event must arrive once by id, verified, in order per message; the figures say how many events,
// duplicates and order violations there were and how long the catch-up took after the outage.
import { EVENT_TYPES } from '../../src/domain/event-webhooks';
import { startEventReceiver } from '../support/event-receiver';
import { apiClient, uploadCsv, uploadTemplate, waitForStatus } from '../support/harness-http';
import { BENCH_TENANT, startPlatform } from '../support/platform';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(what);
};

export async function eventWebhookDrill(): Promise<string> {
  const outageMs = Number(process.env.EVENT_WEBHOOK_DRILL_OUTAGE_SECONDS ?? 300) * 1000;
  const platform = await startPlatform({
    SEND_RATE_PER_SECOND: '100',
    BATCH_SIZE: '500',
    FINAL_STATE_DEADLINE_SECONDS: '900',
    OUTCOME_POLL_SECONDS: '10',
    // The production cap is 300 s; a minute keeps the drill's catch-up close to the outage's end.
    EVENT_WEBHOOK_RETRY_CAP_SECONDS: '60',
  });
  const receiver = await startEventReceiver();
  try {
    const api = apiClient(platform.apiUrl, BENCH_TENANT.apiKey);
    const created = await api.post('/api/v1/webhooks', { url: receiver.url, event_types: [...EVENT_TYPES] });
    check(created.status === 201, `endpoint not created: ${created.status} ${JSON.stringify(created.body)}`);
    receiver.setSecret(created.body.secret as string);
    const endpointId = created.body.endpoint_id as string;
    const run = Date.now();
    const group = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}${run}d${i}@simulator.amazonses.com`);
    const everyone = [
      ...group('success+', 800),
      ...group('success+open', 400),
      ...group('success+click', 300),
      ...group('bounce+', 250),
      ...group('complaint+', 250),
    ];
    const templateId = await uploadTemplate(api, { subject: 'Drill {{ name }}', html: '<p>{{ name }}</p>' });
    const csv = ['email,name', ...everyone.map((e, i) => `${e},N${i}`)].join('\n');
    const started = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: await uploadCsv(api, csv) });
    const id = started.body.transaction_id as string;

    for (let i = 0; i < 600 && receiver.stats.events === 0; i++) await sleep(200);
    check(receiver.stats.events > 0, 'no event arrived within 2 minutes');
    await receiver.down();
    const downAt = Date.now();
    await sleep(outageMs);
    const beforeUp = receiver.counts.size;
    await receiver.up();
    const upAt = Date.now();

    const final = await waitForStatus(api, id, ['COMPLETED'], 1_800_000);
    const c = final.counts as Record<string, number>;
    const expected = c.sent! + c.delivered! + c.bounced! + c.complained! + c.opened! + c.clicked!;
    const deadline = Date.now() + 600_000;
    while (receiver.counts.size < expected && Date.now() < deadline) await sleep(500);
    const caughtUp = Math.max(...receiver.firstSeenAt.values());
    const state = (await api.get(`/api/v1/webhooks/${endpointId}`)).body;
    const summary = receiver.summary();
    const violations = receiver.orderViolations();
    const figures = {
      recipients: everyone.length,
      expected_events: expected,
      events_received: summary.distinct,
      raw_copies: receiver.stats.events,
      duplicates: summary.extraCopies,
      order_violations: violations.length,
      unverified_posts: receiver.stats.unverified,
      posts: receiver.stats.posts,
      outage_seconds: Math.round((upAt - downAt) / 1000),
      received_before_outage: beforeUp,
      catch_up_seconds_after_up: Math.round((caughtUp - upAt) / 100) / 10,
      given_up: state.delivery?.given_up_count,
    };
    console.log(`[figures] event-webhooks drill: ${JSON.stringify(figures)}`);
    check(summary.distinct === expected, `${summary.distinct} of ${expected} events received`);
    check(summary.extraCopies === 0, `${summary.extraCopies} duplicate copies`);
    check(violations.length === 0, `order violations: ${violations.slice(0, 3).join('; ')}`);
    check(receiver.stats.unverified === 0, `${receiver.stats.unverified} POSTs did not verify`);
    return JSON.stringify(figures);
  } finally {
    await receiver.close();
    await platform.stop();
  }
}
