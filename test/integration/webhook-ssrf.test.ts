// The webhook SSRF guard against real DNS answers: a tiny DNS server (UDP, this file) answers
// for *.test names, and some names change their answer between queries (DNS rebinding). The
// engine here runs with the guard as production has it (CALLBACK_ALLOW_PRIVATE_NETWORKS off)
// and resolves callback hosts with that server only (CALLBACK_DNS_SERVERS). A listener on
// 127.0.0.1 counts connections: a refused webhook must never reach it.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { checkCallbackUrl } from '../../api/callback-url';
import type { CallbackPolicy } from '../../src/adapters/safe-http';
import { transactionWorkflowId } from '../../src/contracts';
import { startDnsServer, type Answer } from '../support/dns-server';
import { uploadCsv, useEngine, waitForStatus } from '../support/harness';
import { forbiddenLiteralUrls } from '../support/ssrf-cases';
import { createFile, createTemplate, createTransaction, expectFailure, runActivity, setupDeps } from './fixtures';

const PUBLIC = '93.184.216.34';
const zone: Record<string, { A?: string[] | ((n: number) => string[]); AAAA?: string[] }> = {
  'public.test': { A: [PUBLIC], AAAA: ['2606:4700::1111'] },
  // Public for the first query (the check at creation), then loopback or cloud metadata.
  'rebind.test': { A: (n) => (n === 0 ? [PUBLIC] : ['127.0.0.1']) },
  'rebind-metadata.test': { A: (n) => (n === 0 ? [PUBLIC] : ['169.254.169.254']) },
  'private.test': { A: ['10.0.0.5'] },
  'mixed.test': { A: [PUBLIC, '127.0.0.1'] },
  'loopback6.test': { AAAA: ['::1'] },
  'mapped.test': { A: [PUBLIC], AAAA: ['::ffff:169.254.169.254'] },
  'nat64.test': { AAAA: ['64:ff9b::a9fe:a9fe'] },
  'sixtofour.test': { AAAA: ['2002:7f00:1::'] },
  'benchmark.test': { A: ['198.18.0.1'] },
  'hooks.test': { A: ['127.0.0.1'] },
};
const answer: Answer = (name, type, n) => {
  const entry = zone[name];
  if (!entry) return undefined;
  const record = entry[type];
  return typeof record === 'function' ? record(n) : (record ?? []);
};
const FORBIDDEN_NAMES = ['private.test', 'mixed.test', 'loopback6.test', 'mapped.test', 'nat64.test', 'sixtofour.test', 'benchmark.test'];

let dns: Awaited<ReturnType<typeof startDnsServer>>;
let listener: Server;
let port: number;
let connections = 0;
let received: { url: string; headers: IncomingHttpHeaders }[] = [];

// Before useEngine's beforeAll, which reads the DNS server's address.
beforeAll(async () => {
  dns = await startDnsServer(answer);
  listener = createServer((req, res) => {
    received.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    res.writeHead(204).end();
  });
  listener.on('connection', () => connections++);
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  port = (listener.address() as { port: number }).port;
});
afterAll(async () => {
  listener.closeAllConnections();
  await new Promise<void>((r) => listener.close(() => r()));
  await dns.close();
});
beforeEach(() => {
  connections = 0;
  received = [];
});

const engine = useEngine({
  // No SES events here: batches settle at a short deadline so the campaign ends COMPLETED.
  config: () => ({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false', CALLBACK_DNS_SERVERS: dns.server, FINAL_STATE_DEADLINE_SECONDS: '2' }),
  template: { subject: 'Hi', html: '<p>Hi</p>' },
  temporal: true,
});
const data = setupDeps();
afterAll(() => data.close());

const strict = (): CallbackPolicy => ({ allowPrivateNetworks: false, dnsServers: [dns.server] });
const request = (transactionId: string) => ({ transactionId, status: 'SENT' as const, timestamp: '2026-01-02T03:04:05.000Z' });

/** deliverWebhook with the given callback policy (and webhook timeout). */
function webhookActivities(callbacks: CallbackPolicy, webhookTimeoutMs = data.deps.settings.webhookTimeoutMs) {
  return createActivities({ ...data.deps, settings: { ...data.deps.settings, callbacks, webhookTimeoutMs } });
}

let records: Promise<{ templateId: string; fileId: string }> | undefined;
/** A transaction record with this callback (its template and file are shared: never read here). */
async function txnWithCallback(callbackUrl: string) {
  records ??= (async () => ({
    templateId: await createTemplate(data.deps, { subject: 'Hi', html: '<p>Hi</p>' }),
    fileId: await createFile(data.deps, 'email\n'),
  }))();
  return createTransaction(data.deps, { ...(await records), callbackUrl });
}

const nameUrls = (names: string[]) => names.map((name) => `http://${name}:${port}/hooks`);

describe('at campaign creation (the API)', () => {
  it('answers 422 PRIVATE_CALLBACK_URL for every forbidden address, spelling and name', async () => {
    const fileId = await uploadCsv(engine.api, 'email\nsomeone@example.com\n');
    const urls = [...forbiddenLiteralUrls(port), ...nameUrls(FORBIDDEN_NAMES)];
    for (const url of urls) {
      const res = await engine.api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, callback_url: url });
      expect(res.status, url).toBe(422);
      expect(res.body.error.code, url).toBe('PRIVATE_CALLBACK_URL');
    }
    const nowhere = await engine.api.post('/api/v1/campaigns', {
      template_id: engine.templateId,
      file_id: fileId,
      callback_url: 'http://nowhere.test/hooks',
    });
    expect(nowhere.status).toBe(422);
    expect(nowhere.body.error.code).toBe('UNRESOLVABLE_CALLBACK_URL');
    expect(connections).toBe(0);
  });

  it('accepts names whose every address is public', async () => {
    await expect(checkCallbackUrl('https://public.test/hooks', strict())).resolves.toBeUndefined();
    await expect(checkCallbackUrl(`http://${PUBLIC}/hooks`, strict())).resolves.toBeUndefined();
  });
});

describe('at delivery (the webhook activity)', () => {
  it('refuses every forbidden destination for good, without connecting', async () => {
    const { deliverWebhook } = webhookActivities(strict());
    for (const url of [...forbiddenLiteralUrls(port), ...nameUrls(FORBIDDEN_NAMES)]) {
      const txn = await txnWithCallback(url);
      const failure = await expectFailure(deliverWebhook, [request(txn.transaction_id)]);
      expect(failure.type, url).toBe('WebhookForbiddenDestination');
      expect(failure.nonRetryable, url).toBe(true);
    }
    expect(connections).toBe(0);
  });

  it('refuses a name that passed at creation and resolves to cloud metadata by delivery (DNS rebinding)', async () => {
    const url = `http://rebind-metadata.test:${port}/hooks`;
    await expect(checkCallbackUrl(url, strict())).resolves.toBeUndefined();
    const txn = await txnWithCallback(url);
    const failure = await expectFailure(webhookActivities(strict()).deliverWebhook, [request(txn.transaction_id)]);
    expect(failure.type).toBe('WebhookForbiddenDestination');
    expect(failure.message).toContain('169.254.169.254');
    expect(dns.count('rebind-metadata.test', 'A')).toBe(2);
  });

  it('resolves once and connects to the vetted address, with the real name as Host', async () => {
    // Private networks allowed, so the vetted address may be this listener's.
    const { deliverWebhook } = webhookActivities({ allowPrivateNetworks: true, dnsServers: [dns.server] });
    const txn = await txnWithCallback(`http://hooks.test:${port}/hooks?x=1`);
    const [a, aaaa] = [dns.count('hooks.test', 'A'), dns.count('hooks.test', 'AAAA')];
    const { result } = await runActivity(deliverWebhook, [request(txn.transaction_id)]);
    expect(result).toBe('delivered');
    expect(received).toHaveLength(1);
    expect(received[0]!.url).toBe('/hooks?x=1');
    expect(received[0]!.headers.host).toBe(`hooks.test:${port}`);
    // No second lookup at connect time (the system resolver does not know *.test at all).
    expect([dns.count('hooks.test', 'A') - a, dns.count('hooks.test', 'AAAA') - aaaa]).toEqual([1, 1]);
  });

  it('sends TLS SNI for the real name while connecting to the vetted address', async () => {
    const names: string[] = [];
    const tls: TlsServer = createTlsServer({
      SNICallback: (servername, done) => {
        names.push(servername);
        done(new Error('no certificate here'));
      },
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', () => r()));
    try {
      const tlsPort = (tls.address() as { port: number }).port;
      const txn = await txnWithCallback(`https://hooks.test:${tlsPort}/hooks`);
      const { deliverWebhook } = webhookActivities({ allowPrivateNetworks: true, dnsServers: [dns.server] });
      const failure = await expectFailure(deliverWebhook, [request(txn.transaction_id)]);
      expect(failure.type).toBe('WebhookUnreachable');
      expect(names).toEqual(['hooks.test']);
    } finally {
      await new Promise<void>((r) => tls.close(() => r()));
    }
  });

  it('retries a name that does not resolve, and does not hang on a resolver that never answers', async () => {
    const txn = await txnWithCallback(`http://nowhere.test:${port}/hooks`);
    const missing = await expectFailure(webhookActivities(strict()).deliverWebhook, [request(txn.transaction_id)]);
    expect(missing.type).toBe('WebhookUnreachable');
    expect(missing.nonRetryable).toBe(false);

    const silent: UdpSocket = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const mute = { allowPrivateNetworks: false, dnsServers: [`127.0.0.1:${silent.address().port}`] };
      const other = await txnWithCallback(`http://public.test:${port}/hooks`);
      const started = Date.now();
      const timedOut = await expectFailure(webhookActivities(mute, 500).deliverWebhook, [request(other.transaction_id)]);
      expect(timedOut.type).toBe('WebhookUnreachable');
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      silent.close();
    }
    expect(connections).toBe(0);
  });
});

describe('a whole campaign whose callback rebinds to loopback', () => {
  it('passes creation, sends, refuses each webhook without connecting, and completes', async () => {
    const fileId = await uploadCsv(engine.api, 'email\nrebind1@example.com\nrebind2@example.com\n');
    const callback = `http://rebind.test:${port}/hooks`;
    const started = await engine.api.post('/api/v1/campaigns', { template_id: engine.templateId, file_id: fileId, callback_url: callback });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.transaction_id as string;

    const final = await waitForStatus(engine.api, id, ['COMPLETED', 'FAILED'], 120_000);
    expect(final.status).toBe('COMPLETED');
    expect(final.counts).toMatchObject({ sent: 2, failed: 0 });
    // The workflow ends once its last webhook is settled: refused, it holds nothing up.
    const handle = engine.temporal.workflow.getHandle(transactionWorkflowId(id));
    await expect(handle.result()).resolves.toMatchObject({ status: 'COMPLETED' });

    // One attempt per status webhook, each refused for good; none reached the listener.
    const events = (await handle.fetchHistory()).events ?? [];
    const webhookActivities = new Set(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverWebhook').map((e) => String(e.eventId)),
    );
    const outcomes = events
      .filter((e) =>
        webhookActivities.has(
          String(e.activityTaskFailedEventAttributes?.scheduledEventId ?? e.activityTaskCompletedEventAttributes?.scheduledEventId),
        ),
      )
      .map((e) => e.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type ?? 'completed');
    expect(outcomes.length).toBe(webhookActivities.size);
    expect(outcomes.length).toBeGreaterThanOrEqual(3); // PROCESSING, SENT and COMPLETED at least
    expect(new Set(outcomes)).toEqual(new Set(['WebhookForbiddenDestination']));
    expect(connections).toBe(0);
    // Resolved once at creation (public) and once per delivery (loopback).
    expect(dns.count('rebind.test', 'A')).toBe(1 + outcomes.length);
  });
});
