// `npm run campaign -- --template t.html --subject "..." --csv list.csv [--send-at ISO]`:
// the whole client side against a running platform (upload, confirm, start), then a live
// progress bar until the campaign settles, then its counts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EventSource } from 'eventsource';

const USAGE = `Usage: npm run campaign -- --template FILE.html --subject TEXT --csv FILE.csv [options]
  --from ADDRESS          sender (default: sender@example.com)
  --text FILE             plain-text part (Liquid)
  --send-at ISO-8601      schedule the campaign
  --per-minute N          throttle: emails per minute
  --callback-url URL      webhook for status changes
  --api URL               API base URL (default: http://127.0.0.1:$PORT or 3000)
  --api-key KEY           default: DEV_API_KEY, else the local stack's dev tenant
  --until STATUS          stop waiting at this status (default: SENT)`;

const FINAL = new Set(['COMPLETED', 'CANCELLED', 'FAILED']);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- loosely typed API JSON, read for display
type Status = Record<string, any>;
/** Reconnects in a row without an event before the progress bar falls back to polling. */
const STREAM_ATTEMPTS = 3;

function drawProgress(status: Status): void {
  const { total_messages: total, processed_messages: done, percentage } = status.progress;
  const width = 30;
  const filled = Math.round((Math.min(100, percentage) / 100) * width);
  process.stderr.write(
    `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percentage).padStart(6)}%  ${done}/${total}  ${status.status.padEnd(13)}`,
  );
}

/**
 * Draws each status event of the campaign's stream until `settled` says stop: that status, or
 * undefined when the stream cannot be had (refused, an older API without it, or failing
 * STREAM_ATTEMPTS times in a row), for the caller to poll instead.
 */
function followStream(url: string, apiKey: string, settled: (status: Status) => boolean): Promise<Status | undefined> {
  return new Promise((resolve) => {
    let failures = 0;
    const source = new EventSource(url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, 'x-api-key': apiKey } }),
    });
    const finish = (status: Status | undefined) => {
      source.close();
      resolve(status);
    };
    source.addEventListener('status', (event) => {
      failures = 0;
      const status = JSON.parse(event.data as string) as Status;
      drawProgress(status);
      if (settled(status)) finish(status);
    });
    source.addEventListener('error', () => {
      failures += 1;
      if (source.readyState === EventSource.CLOSED || failures >= STREAM_ATTEMPTS) finish(undefined);
    });
  });
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

function apiKey(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.DEV_API_KEY) return process.env.DEV_API_KEY;
  const file = join(process.env.LOCAL_STACK_DIR ?? '.local-stack', 'dev-tenant.json');
  if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { apiKey: string }).apiKey;
  return fail('No API key: pass --api-key, set DEV_API_KEY, or start the platform with `npm start` first.');
}

async function main() {
  const { values } = parseArgs({
    options: {
      template: { type: 'string' },
      subject: { type: 'string' },
      csv: { type: 'string' },
      from: { type: 'string', default: 'sender@example.com' },
      text: { type: 'string' },
      'send-at': { type: 'string' },
      'per-minute': { type: 'string' },
      'callback-url': { type: 'string' },
      api: { type: 'string', default: `http://127.0.0.1:${process.env.PORT || 3000}` },
      'api-key': { type: 'string' },
      until: { type: 'string', default: 'SENT' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.template || !values.subject || !values.csv) fail(USAGE);
  const key = apiKey(values['api-key']);
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(values.api + path, {
      method,
      headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- loosely typed API JSON, read for display
    const json = (await res.json().catch(() => ({}))) as Record<string, any>;
    if (!res.ok)
      fail(
        `${method} ${path} → ${res.status}: ${json.error?.message ?? ''} ${json.error?.details ? JSON.stringify(json.error.details) : ''}`,
      );
    return json;
  };
  const upload = async (url: string, headers: Record<string, string>, body: Buffer) => {
    const res = await fetch(url, { method: 'PUT', headers, body });
    if (!res.ok) fail(`upload failed: ${res.status} ${await res.text()}`);
  };

  const template = await call('POST', '/api/v1/templates/presigned-url', {
    name: values.template,
    subject: values.subject,
    from: values.from,
    ...(values.text ? { text: readFileSync(values.text, 'utf8') } : {}),
  });
  await upload(template.upload_url, template.headers, readFileSync(values.template));
  const confirmed = await call('POST', `/api/v1/templates/${template.template_id}/confirm`);
  console.error(`template ${template.template_id} ready; placeholders: ${confirmed.placeholders.join(', ') || '(none)'}`);
  const file = await call('POST', '/api/v1/files/presigned-url', { file_name: values.csv, content_type: 'text/csv' });
  await upload(file.upload_url, file.headers, readFileSync(values.csv));
  const started = await call('POST', '/api/v1/campaigns', {
    template_id: template.template_id,
    file_id: file.file_id,
    ...(values['send-at'] ? { schedule: { send_at: values['send-at'] } } : {}),
    ...(values['per-minute'] ? { throttle: { emails_per_minute: Number(values['per-minute']) } } : {}),
    ...(values['callback-url'] ? { callback_url: values['callback-url'] } : {}),
  });
  const id = started.transaction_id as string;
  console.error(`campaign ${id} accepted`);

  const settled = (status: Status) => status.status === values.until || FINAL.has(status.status);
  // The progress stream (GET …/stream, Server-Sent Events); polling where it cannot be had.
  let status = await followStream(`${values.api}/api/v1/campaigns/${id}/stream`, key, settled);
  if (!status) {
    for (;;) {
      status = (await call('GET', `/api/v1/campaigns/${id}/status`)) as Status;
      drawProgress(status);
      if (settled(status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  process.stderr.write('\n');
  console.log(JSON.stringify({ transaction_id: id, status: status.status, reason: status.reason, counts: status.counts }, null, 2));
  if (status.status === 'FAILED') process.exit(1);
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
