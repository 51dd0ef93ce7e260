// The alert rules on a real Prometheus (Debian's package, src/local/prometheus.ts) scraping this
// file's in-process worker and API: a campaign whose hard bounce rate is over 5 % (recipients at
// the SES mailbox simulator's bounce address, events through the local SES → SNS pipeline) and a
// campaign stuck in PROCESSING (its ingest's S3 read held by a fault proxy in front of the
// stack's s3rver) make EmailEngineTenantBounceRateHigh and EmailEngineCampaignStuckProcessing
// fire, read from Prometheus's HTTP API (/api/v1/alerts).
//
// The rules are ops/prometheus/alerts.yml rewritten mechanically by scaledAlertRules (every
// `for:` → 0s, the stuck threshold 1800 s → 5 s); thresholds, windows and minimum volumes are the
// file's own. Counters: increase() needs a series' earlier sample, and prom-client only exports a
// labelled series once it counted something, so a warm-up campaign (one delivered, one bounced)
// creates the tenant's series before the measured campaign (a long-running engine has them).
import { request as httpRequest, createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/local/ports';
import { scaledAlertRules, startPrometheus, STUCK_ALERT, type RunningPrometheus } from '../../src/local/prometheus';
import { TENANTS, uploadCsv, useEngine, waitFor, waitForStatus } from '../support/harness';

const STUCK_AFTER_SECONDS = 5;
const BOUNCE_ALERT = 'EmailEngineTenantBounceRateHigh';

/** A pass-through proxy to s3rver that holds whole-object GETs of the files named in `held` until released. */
async function startS3HoldProxy(upstream: string) {
  const target = new URL(upstream);
  const held = new Set<string>();
  const waiting: (() => void)[] = [];
  const heldReads: string[] = [];
  const server: Server = createServer((req, res) => {
    const forward = () => {
      const up = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    // The ingest streams the whole file; the API's header peek at creation (a Range read) passes.
    if (req.method === 'GET' && !req.headers.range && [...held].some((fileId) => path.includes(`/files/${fileId}`))) {
      heldReads.push(path);
      waiting.push(forward);
      return;
    }
    forward();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hold: (fileId: string) => held.add(fileId),
    heldReads,
    release() {
      held.clear();
      for (const forward of waiting.splice(0)) forward();
    },
    async close() {
      this.release();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let proxy: Awaited<ReturnType<typeof startS3HoldProxy>>;
let ports: { worker: number; api: number };
beforeAll(async () => {
  proxy = await startS3HoldProxy(inject('stackEnv').S3_ENDPOINT!);
  ports = { worker: await freePort(), api: await freePort() };
});
afterAll(() => proxy?.close());

const engine = useEngine({
  events: 'connect',
  template: { subject: 'Hi', html: '<p>Hi</p>' },
  config: () => ({
    S3_ENDPOINT: proxy.url,
    WORKER_METRICS_PORT: String(ports.worker),
    METRICS_PORT: String(ports.api),
    COLLECT_INTERVAL_SECONDS: '1',
    // The guard would hold tenant a's campaigns on this file's bounces, for the files after it too.
    REPUTATION_GUARD: 'observe',
    // An ambiguous send (the emulator hanging up a reused socket) settles in seconds, not 5 minutes.
    SENDING_GRACE_SECONDS: '5',
    OUTCOME_POLL_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '120',
  }),
});
const api = engine.api;

let prometheus: RunningPrometheus;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'alerts-e2e-'));
  const rules = join(dir, 'alerts.scaled.yml');
  writeFileSync(rules, scaledAlertRules(STUCK_AFTER_SECONDS));
  prometheus = await startPrometheus({
    dir,
    port: await freePort(),
    interval: '1s',
    ruleFiles: [rules],
    targets: [
      { job: 'worker', address: `127.0.0.1:${ports.worker}` },
      { job: 'api', address: `127.0.0.1:${ports.api}` },
    ],
  });
}, 900_000);
afterAll(async () => {
  await prometheus?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
  activeAt: string;
}
async function promGet<T>(path: string): Promise<T> {
  const res = await fetch(`${prometheus.url}${path}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
  return body.data;
}
const firing = async () => (await promGet<{ alerts: Alert[] }>('/api/v1/alerts')).alerts.filter((a) => a.state === 'firing');
const query = async (expr: string) =>
  (
    await promGet<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    )
  ).result;

/** What the two alerts read, for a failure's message. */
async function diagnosis(): Promise<string> {
  const exprs = [
    'email_engine_messages_sent_total',
    'email_engine_bounces_total',
    'tenant:email_engine_messages_sent:increase1h',
    'tenant:email_engine_bounce_ratio:1h',
    'email_engine_oldest_processing_campaign_seconds',
  ];
  const lines = await Promise.all(exprs.map(async (e) => `${e}: ${JSON.stringify((await query(e)).map((r) => [r.metric, r.value[1]]))}`));
  const all = (await promGet<{ alerts: Alert[] }>('/api/v1/alerts')).alerts.map((a) => `${a.labels.alertname} ${a.state} ${a.value}`);
  return [...lines, `alerts: ${all.join(', ') || 'none'}`].join('\n');
}

const run = `${Date.now()}`;
/** n distinct simulator addresses (a hard-bounced address is suppressed afterwards: never reuse one). */
const sim = (box: string, tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${box}+${tag}${run}x${i}@simulator.amazonses.com`);

async function campaign(recipients: string[]): Promise<{ id: string; fileId: string }> {
  const fileId = await uploadCsv(api, ['email', ...recipients].join('\n'));
  return { id: await start(fileId), fileId };
}
async function start(fileId: string): Promise<string> {
  const res = await api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.transaction_id as string;
}

describe('alerts on a real Prometheus', () => {
  it('scrapes the worker and the API and loads the rules', async () => {
    const targets = await waitFor(
      'both targets up',
      async () => {
        const { activeTargets } = await promGet<{ activeTargets: { labels: { job: string }; health: string; lastError: string }[] }>(
          '/api/v1/targets',
        );
        return activeTargets.length === 2 && activeTargets.every((t) => t.health === 'up') ? activeTargets : undefined;
      },
      30_000,
    );
    expect(targets.map((t) => t.labels.job).sort()).toEqual(['api', 'worker']);
    const { groups } = await promGet<{ groups: { rules: { name: string; type: string }[] }[] }>('/api/v1/rules');
    const alertNames = groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting').map((r) => r.name));
    expect(alertNames).toEqual(expect.arrayContaining([BOUNCE_ALERT, STUCK_ALERT]));
    expect(await firing()).toEqual([]);
  });

  it('fires the per-tenant bounce rate alert and the stuck-in-PROCESSING alert', { timeout: 600_000 }, async () => {
    const tenant = TENANTS.a.tenantId;
    // Warm-up: the tenant's sent and hard-bounce series exist in Prometheus before the measured campaign.
    const warmUp = await campaign([...sim('success', 'warm', 1), ...sim('bounce', 'warm', 1)]);
    await waitForStatus(api, warmUp.id, ['COMPLETED'], 120_000);
    console.error('[alerts] warm-up campaign COMPLETED');
    await waitFor(
      "the tenant's sent and hard bounce counters scraped",
      async () => {
        const sent = await query(`email_engine_messages_sent_total{tenant="${tenant}"}`);
        const bounced = await query(`email_engine_bounces_total{tenant="${tenant}", bounce_type="Permanent"}`);
        return sent.length > 0 && bounced.length > 0 ? true : undefined;
      },
      60_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await diagnosis()}`);
    });
    await new Promise((r) => setTimeout(r, 3000)); // a few more scrapes of the warm-up values

    // 120 messages (over the rule's minimum of 100), 24 hard bounces: 20 %.
    const bouncy = await campaign([...sim('success', 'rate', 96), ...sim('bounce', 'rate', 24)]);
    // Stuck: the ingest's read of its file is held, so it stays in PROCESSING.
    const stuckFile = await uploadCsv(api, ['email', ...sim('success', 'stuck', 3)].join('\n'));
    proxy.hold(stuckFile);
    const stuck = await start(stuckFile);

    const final = await waitForStatus(api, bouncy.id, ['COMPLETED'], 180_000);
    expect(final.counts).toMatchObject({ sent: 120, bounced: 24 });
    console.error('[alerts] bounce campaign COMPLETED');
    expect((await api.get(`/api/v1/campaigns/${stuck}/status`)).body.status).toBe('PROCESSING');
    expect(proxy.heldReads.length).toBeGreaterThan(0);

    // Both firing, and the bounce alert's value caught up with the measured campaign: 24 of 120
    // (the last bounces' scrape may trail the campaign's COMPLETED; the warm-up's samples predate
    // the window's first one).
    const alerts = await waitFor(
      "both alerts firing, the bounce rate at the campaign's 20 %",
      async () => {
        const now = await firing();
        const bounce = now.find((a) => a.labels.alertname === BOUNCE_ALERT);
        return bounce && Number(bounce.value) >= 0.18 && now.some((a) => a.labels.alertname === STUCK_ALERT) ? now : undefined;
      },
      90_000,
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${await diagnosis()}`);
    });
    console.log(
      `firing alerts read from ${prometheus.url}/api/v1/alerts:\n` +
        alerts.map((a) => `  ${JSON.stringify({ labels: a.labels, value: a.value, summary: a.annotations.summary })}`).join('\n'),
    );
    const bounce = alerts.find((a) => a.labels.alertname === BOUNCE_ALERT)!;
    expect(bounce.labels).toEqual({ alertname: BOUNCE_ALERT, severity: 'critical', tenant });
    // 25 hard bounces of 122 sent (0.205); each increase() is extrapolated over its own sample
    // range, so the ratio read back wanders a little either side (0.2228 seen in CI).
    expect(Number(bounce.value)).toBeGreaterThan(0.05);
    expect(Number(bounce.value)).toBeLessThanOrEqual(0.25);
    expect(bounce.annotations.summary).toContain(`Tenant ${tenant}: hard bounce rate`);
    const stuckAlert = alerts.find((a) => a.labels.alertname === STUCK_ALERT)!;
    expect(stuckAlert.labels).toMatchObject({ alertname: STUCK_ALERT, severity: 'critical', job: 'worker' });
    expect(Number(stuckAlert.value)).toBeGreaterThan(STUCK_AFTER_SECONDS);
    // Only tenant a bounced.
    expect(alerts.filter((a) => a.labels.alertname === BOUNCE_ALERT).map((a) => a.labels.tenant)).toEqual([tenant]);

    // Cancelled and released, the stuck campaign leaves PROCESSING and its alert resolves.
    const cancelled = await api.post(`/api/v1/campaigns/${stuck}/cancel`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(202);
    proxy.release();
    await waitForStatus(api, stuck, ['CANCELLED'], 120_000);
    await waitFor(
      'the stuck alert resolved',
      async () => ((await firing()).some((a) => a.labels.alertname === STUCK_ALERT) ? undefined : true),
      60_000,
    );
  });
});
