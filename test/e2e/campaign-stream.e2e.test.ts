// Issue 16, item 7, on the local stack: GET /campaigns/{id}/stream as a real EventSource client
// reads it. A campaign of some hundreds of recipients at a limited rate streams its progress at
// most once a second, counts only growing, until COMPLETED, after which the server closes the
// stream (and answers the client's reconnect with 204, so it stops). Last-Event-ID resumes
// (the current state at once when it differs, keep-alives only when it does not); another
// tenant's campaign is a 404 before any stream; past the per-tenant cap a 429; streams that
// clients leave release their slot and every timer, also clients that leave while the campaign is
// read, before the stream opens; `npm run campaign` draws its bar from it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventSource, type ErrorEvent } from 'eventsource';
import { streamResources } from '../../api/routes/campaign-stream';
import { TENANTS, uploadCsv, uploadTemplate, useEngine, waitFor, waitForStatus } from '../support/harness';

const CAP = 3;
const engine = useEngine({
  config: {
    STREAMS_MAX_PER_TENANT: String(CAP),
    STREAM_HEARTBEAT_SECONDS: '0.5',
    FINAL_STATE_DEADLINE_SECONDS: '1',
    OUTCOME_POLL_SECONDS: '1',
    // The local SES emulator sometimes hangs up on a loaded machine; the retry resends the
    // messages that attempt left SENDING after this grace (default 300 s), not minutes later.
    SENDING_GRACE_SECONDS: '5',
  },
});
const api = engine.api;
const RECIPIENTS = 100;
const PER_MINUTE = 600; // 10 a second (under the local SES MaxSendRate of 14): some ten seconds of sending
const run = `${Date.now()}`;
let templateId: string;
let scheduledId: string; // a campaign that holds still (scheduled a day ahead)

interface Received {
  at: number;
  id: string;
  view: { status: string; counts: Record<string, number>; progress: { processed_messages: number; total_messages: number } };
}

const streamUrl = (id: string) => `${engine.url}/api/v1/campaigns/${id}/stream`;

/** An EventSource with the API key (the `eventsource` package takes a fetch to add headers), recording what it gets. */
function listen(id: string, apiKey = TENANTS.a.apiKey) {
  const events: Received[] = [];
  const errors: { code: number | undefined; state: number }[] = [];
  const responses: { status: number; lastEventId: string | null }[] = [];
  const source = new EventSource(streamUrl(id), {
    fetch: async (input, init) => {
      const res = await fetch(input, { ...init, headers: { ...init.headers, 'x-api-key': apiKey } });
      responses.push({ status: res.status, lastEventId: new Headers(init.headers).get('last-event-id') });
      return res;
    },
  });
  source.addEventListener('status', (e) => events.push({ at: Date.now(), id: e.lastEventId, view: JSON.parse(e.data as string) }));
  source.addEventListener('error', (e) => errors.push({ code: (e as ErrorEvent).code, state: source.readyState }));
  return { source, events, errors, responses };
}

/** The raw stream over fetch: its status, headers, and the SSE blocks read until `until` or `ms` pass. */
async function raw(id: string, headers: Record<string, string> = {}, apiKey = TENANTS.a.apiKey) {
  const abort = new AbortController();
  const res = await fetch(streamUrl(id), { headers: { 'x-api-key': apiKey, ...headers }, signal: abort.signal });
  const blocks: { at: number; text: string }[] = [];
  let ended = false;
  const read = async (ms: number, until: () => boolean = () => false) => {
    if (!res.body || ended) return;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const deadline = Date.now() + ms;
    let buffer = '';
    try {
      while (Date.now() < deadline && !until()) {
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1, deadline - Date.now())));
        const chunk = await Promise.race([reader.read(), timeout]);
        if (chunk === 'timeout') break;
        if (chunk.done) {
          ended = true;
          break;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          blocks.push({ at: Date.now(), text: buffer.slice(0, cut) });
          buffer = buffer.slice(cut + 2);
        }
      }
    } finally {
      reader.releaseLock();
    }
  };
  const events = () => blocks.filter((b) => b.text.includes('\ndata: ')).map((b) => b.text);
  return { res, blocks, events, read, ended: () => ended, close: () => abort.abort() };
}

beforeAll(async () => {
  templateId = await uploadTemplate(api, { subject: 'Progress', html: '<p>Hi {{ name }}</p>' });
  const fileId = await uploadCsv(api, `email,name\nheld-${run}@example.com,Held\n`);
  const sendAt = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
  const res = await api.post('/api/v1/campaigns', { template_id: templateId, file_id: fileId, schedule: { send_at: sendAt } });
  scheduledId = res.body.transaction_id as string;
  await waitForStatus(api, scheduledId, ['SCHEDULED']);
});
afterAll(async () => {
  if (scheduledId) await api.post(`/api/v1/campaigns/${scheduledId}/cancel`);
});

describe('GET /campaigns/{id}/stream', () => {
  let completed: Received | undefined;
  let firstId: string | undefined;

  it('streams a campaign at most once a second, counts growing, until COMPLETED, then the server closes it', async () => {
    const rows = Array.from({ length: RECIPIENTS }, (_, i) => `stream-${run}-${i}@example.com,R${i}`);
    const fileId = await uploadCsv(api, ['email,name', ...rows].join('\n') + '\n');
    const started = await api.post('/api/v1/campaigns', {
      template_id: templateId,
      file_id: fileId,
      throttle: { emails_per_minute: PER_MINUTE },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.transaction_id as string;

    const client = listen(id);
    try {
      await waitFor('COMPLETED on the stream', async () => client.events.find((e) => e.view.status === 'COMPLETED'), 240_000).catch(
        async (error: Error) => {
          const last = client.events.at(-1)?.view;
          const now = (await api.get(`/api/v1/campaigns/${id}/status`)).body;
          console.log('campaign as GET …/status has it:', JSON.stringify({ ...now, status_history: undefined }));
          throw new Error(
            `${error.message}: ${client.events.length} events, responses ${JSON.stringify(client.responses)}, last ${JSON.stringify(last?.status)} ${JSON.stringify(last?.progress)}`,
          );
        },
      );
      // The server ends the stream after COMPLETED; the client reconnects with that event's id
      // and is told to stop (204): it closes for good.
      await waitFor('the client to close', async () => (client.source.readyState === EventSource.CLOSED ? true : undefined), 15_000);
    } finally {
      client.source.close();
    }
    const { events } = client;
    const gaps = events.slice(1).map((e, i) => e.at - events[i]!.at);
    console.log(
      `stream of ${RECIPIENTS} recipients: ${events.length} events, gaps ${Math.min(...gaps)}–${Math.max(...gaps)} ms, statuses ${[
        ...new Set(events.map((e) => e.view.status)),
      ].join(' → ')}`,
    );
    expect(events.length).toBeGreaterThanOrEqual(4);
    // At most one a second: the server holds 1000 ms between writes by its clock; the client's
    // receive times jitter on this loaded machine, so each gap gets slack and the whole span none.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(750);
    expect(events.length - 1).toBeLessThanOrEqual(Math.floor((events.at(-1)!.at - events[0]!.at) / 1000) + 1);
    for (let i = 1; i < events.length; i++) {
      const [before, after] = [events[i - 1]!.view, events[i]!.view];
      expect(after.progress.processed_messages).toBeGreaterThanOrEqual(before.progress.processed_messages);
      expect(after.counts.sent).toBeGreaterThanOrEqual(before.counts.sent!);
    }
    // Progress seen along the way, not only at the ends.
    expect(events.some((e) => e.view.progress.processed_messages > 0 && e.view.progress.processed_messages < RECIPIENTS)).toBe(true);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    completed = events.at(-1)!;
    firstId = events[0]!.id;
    expect(completed.view.status).toBe('COMPLETED');
    expect(completed.view.counts.sent).toBe(RECIPIENTS);
    expect(completed.view.progress).toMatchObject({ processed_messages: RECIPIENTS, total_messages: RECIPIENTS });
    expect(client.responses.map((r) => r.status)).toEqual([200, 204]);
    expect(client.responses[1]!.lastEventId).toBe(completed.id);
    expect(client.errors.at(-1)).toEqual({ code: 204, state: EventSource.CLOSED });
    // The event is the status view GET …/status answers.
    const status = await api.get(`/api/v1/campaigns/${id}/status`);
    const { estimated_completion: _a, ...streamed } = completed.view as unknown as Record<string, unknown>;
    const { estimated_completion: _b, ...current } = status.body;
    expect(streamed).toEqual(current);

    // Resume from an older id: the final state at once, then the end of the stream.
    const resumed = await raw(id, { 'Last-Event-ID': firstId });
    expect(resumed.res.status).toBe(200);
    expect(resumed.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(resumed.res.headers.get('cache-control')).toContain('no-cache');
    expect(resumed.res.headers.get('x-accel-buffering')).toBe('no');
    await resumed.read(10_000, resumed.ended);
    expect(resumed.ended()).toBe(true);
    expect(resumed.events()).toHaveLength(1);
    expect(resumed.events()[0]).toContain(`id: ${completed.id}\nevent: status\ndata: `);
    // Resume from the final id: nothing more will come.
    const done = await raw(id, { 'Last-Event-ID': completed.id });
    expect(done.res.status).toBe(204);
  }, 300_000);

  it('resumes with Last-Event-ID: keep-alives only while the state is the one the client holds, the state at once when not', async () => {
    const first = await raw(scheduledId);
    await first.read(5_000, () => first.events().length > 0);
    first.close();
    expect(first.events()).toHaveLength(1);
    const id = /^id: (.+)$/m.exec(first.events()[0]!)![1]!;
    expect(first.events()[0]).toContain('"status":"SCHEDULED"');

    const same = await raw(scheduledId, { 'Last-Event-ID': id });
    expect(same.res.status).toBe(200);
    await same.read(2_600);
    same.close();
    expect(same.events()).toEqual([]);
    const beats = same.blocks.filter((b) => b.text === ': keep-alive');
    expect(beats.length).toBeGreaterThanOrEqual(3);
    expect(same.blocks).toHaveLength(beats.length);

    const stale = await raw(scheduledId, { 'Last-Event-ID': 'stale' });
    const opened = Date.now();
    await stale.read(5_000, () => stale.events().length > 0);
    stale.close();
    expect(stale.events()).toEqual([first.events()[0]]);
    expect(stale.blocks.find((b) => b.text.includes('\ndata: '))!.at - opened).toBeLessThan(500);
  });

  it("answers another tenant's campaign with 404 before any stream, to fetch and to an EventSource", async () => {
    const other = await raw(scheduledId, {}, TENANTS.b.apiKey);
    expect(other.res.status).toBe(404);
    expect(other.res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await other.res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');

    const client = listen(scheduledId, TENANTS.b.apiKey);
    await waitFor('the EventSource to give up', async () => (client.source.readyState === EventSource.CLOSED ? true : undefined), 10_000);
    expect(client.events).toEqual([]);
    expect(client.errors).toEqual([{ code: 404, state: EventSource.CLOSED }]);
    // Unknown ids and the transactions alias are tenant-scoped the same way.
    expect((await raw('txn-does-not-exist')).res.status).toBe(404);
    const alias = await fetch(`${engine.url}/api/v1/transactions/${scheduledId}/stream`, { headers: { 'x-api-key': TENANTS.b.apiKey } });
    expect(alias.status).toBe(404);
  });

  it('refuses streams past the per-tenant cap with 429, and frees slots and timers when clients leave', async () => {
    // The earlier tests' streams, closed by their clients, are gone once the server saw them close.
    await waitFor('earlier streams to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    expect(streamResources()).toEqual({ streams: 0, timers: 0 });
    const open = [];
    for (let i = 0; i < CAP; i++) {
      const stream = await raw(scheduledId);
      expect(stream.res.status).toBe(200);
      await stream.read(3_000, () => stream.events().length > 0);
      open.push(stream);
    }
    expect(streamResources().streams).toBe(CAP);
    // The cap holds for the alias too: it is the same tenant's streams.
    const refused = await fetch(`${engine.url}/api/v1/transactions/${scheduledId}/stream`, { headers: { 'x-api-key': TENANTS.a.apiKey } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await refused.json()).toMatchObject({ error: { code: 'TOO_MANY_STREAMS', details: { limit: CAP } } });

    for (const stream of open) stream.close();
    await waitFor('the streams to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    // Every timer went with its stream: no heartbeat, pace or poll left.
    expect(streamResources()).toEqual({ streams: 0, timers: 0 });
    const again = await raw(scheduledId);
    expect(again.res.status).toBe(200);
    again.close();
    await waitFor('the last stream to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    expect(streamResources()).toEqual({ streams: 0, timers: 0 });
  });

  it('holds nothing for clients that leave while the campaign is read, before the stream opens', async () => {
    await waitFor('earlier streams to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    // Requests cut off a few milliseconds after they are sent: some before the server reads them,
    // some while it reads the campaign from DynamoDB (the window the route once missed the close
    // in), some after the stream opened. None may keep a stream, a slot or a timer.
    const url = new URL(streamUrl(scheduledId));
    const outcomes = await Promise.all(
      Array.from(
        { length: 24 },
        (_, i) =>
          new Promise<string>((resolve) => {
            const req = request(url, { headers: { 'x-api-key': TENANTS.a.apiKey } }, (res) => {
              resolve(`status ${res.statusCode}`);
              req.destroy();
            });
            req.on('error', () => resolve('cut'));
            req.end();
            setTimeout(() => req.destroy(), i * 2);
          }),
      ),
    );
    console.log(
      `clients that left early: ${JSON.stringify(outcomes.reduce<Record<string, number>>((n, o) => ({ ...n, [o]: (n[o] ?? 0) + 1 }), {}))}`,
    );
    // A handler still awaiting its read when the client left must give up when the read returns.
    await new Promise((r) => setTimeout(r, 3_000));
    await waitFor('the streams to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    expect(streamResources()).toEqual({ streams: 0, timers: 0 });
    // And the slots are back: the whole cap opens again.
    const open = [];
    for (let i = 0; i < CAP; i++) {
      const stream = await raw(scheduledId);
      expect(stream.res.status).toBe(200);
      open.push(stream);
    }
    for (const stream of open) stream.close();
    await waitFor('the last streams to be released', async () => (streamResources().streams === 0 ? true : undefined), 10_000);
    expect(streamResources()).toEqual({ streams: 0, timers: 0 });
  });

  it("drives `npm run campaign`'s progress bar from the stream", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'campaign-cli-'));
    try {
      writeFileSync(join(dir, 't.html'), '<p>Hello {{ name }}</p>');
      const rows = Array.from({ length: 20 }, (_, i) => `cli-${run}-${i}@example.com,C${i}`);
      writeFileSync(join(dir, 'list.csv'), ['email,name', ...rows].join('\n') + '\n');
      const args = ['--template', join(dir, 't.html'), '--subject', 'Hi', '--csv', join(dir, 'list.csv')];
      const cli = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/campaign.ts', ...args, '--api', engine.url, '--api-key', TENANTS.a.apiKey, '--until', 'COMPLETED'],
        { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      cli.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      cli.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // The stream is in this process's API: watch it open while the CLI runs.
      let sawStream = false;
      const watching = setInterval(() => (sawStream ||= streamResources().streams > 0), 50);
      const code = await new Promise<number | null>((resolve) => cli.on('close', resolve));
      clearInterval(watching);
      expect(code, stderr).toBe(0);
      expect(sawStream).toBe(true);
      const result = JSON.parse(stdout) as { status: string; counts: Record<string, number> };
      expect(result).toMatchObject({ status: 'COMPLETED', counts: { sent: 20 } });
      expect(stderr).toMatch(/\] +100%  20\/20  COMPLETED/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
