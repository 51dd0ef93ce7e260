// HTTP-level helpers shared by tests and benchmark scripts (no vitest here): an API client,
// presigned uploads as a client does them, status polling, a webhook receiver, the SES inbox.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Config } from '../../src/config';
import { verifyWebhook } from '../../src/domain/webhook-signature';
import type { Email } from 'aws-ses-v2-local/dist/store';

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
}

/** `baseUrl` may be a function, called per request (for a client made before its server runs). */
export function apiClient(baseUrl: string | (() => string), apiKey: string | undefined) {
  async function call<T = Record<string, any>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const res = await fetch((typeof baseUrl === 'function' ? baseUrl() : baseUrl) + path, {
      method,
      headers: {
        ...(apiKey ? { 'x-api-key': apiKey } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
  }
  return {
    get: <T = Record<string, any>>(path: string) => call<T>('GET', path),
    post: <T = Record<string, any>>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', path, body, headers),
    put: <T = Record<string, any>>(path: string, body?: unknown) => call<T>('PUT', path, body),
    patch: <T = Record<string, any>>(path: string, body?: unknown) => call<T>('PATCH', path, body),
    delete: <T = Record<string, any>>(path: string) => call<T>('DELETE', path),
  };
}
export type ApiClient = ReturnType<typeof apiClient>;

/** Uploads through the presigned URLs exactly as a client would, and confirms the template. */
export async function uploadTemplate(
  api: ApiClient,
  template: { name?: string; subject: string; from?: string; html: string; text?: string },
): Promise<string> {
  const created = await api.post('/api/v1/templates/presigned-url', {
    name: template.name ?? 'test template',
    subject: template.subject,
    from: template.from ?? 'sender@example.com',
    ...(template.text ? { text: template.text } : {}),
  });
  if (created.status !== 201) throw new Error(`template presign: ${created.status} ${JSON.stringify(created.body)}`);
  const put = await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: template.html });
  if (!put.ok) throw new Error(`template upload: ${put.status} ${await put.text()}`);
  const confirmed = await api.post(`/api/v1/templates/${created.body.template_id}/confirm`);
  if (confirmed.status !== 200) throw new Error(`template confirm: ${confirmed.status} ${JSON.stringify(confirmed.body)}`);
  return created.body.template_id as string;
}

export async function uploadCsv(api: ApiClient, csv: string | Buffer, fileName = 'recipients.csv'): Promise<string> {
  const created = await api.post('/api/v1/files/presigned-url', { file_name: fileName, content_type: 'text/csv' });
  if (created.status !== 201) throw new Error(`file presign: ${created.status} ${JSON.stringify(created.body)}`);
  const put = await fetch(created.body.upload_url, { method: 'PUT', headers: created.body.headers, body: csv });
  if (!put.ok) throw new Error(`file upload: ${put.status} ${await put.text()}`);
  return created.body.file_id as string;
}

export async function waitForStatus(
  api: ApiClient,
  transactionId: string,
  statuses: string[],
  timeoutMs = 120_000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, any> = {};
  while (Date.now() < deadline) {
    const res = await api.get(`/api/v1/campaigns/${transactionId}/status`);
    last = res.body;
    if (statuses.includes(last.status)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`campaign ${transactionId} did not reach ${statuses.join('/')}; last: ${JSON.stringify(last).slice(0, 500)}`);
}

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, any>;
  verified: boolean;
}

/** A real HTTP server that records webhooks and verifies their Standard Webhooks signature. */
export async function startWebhookReceiver(secret: string, respond: (n: number) => number = () => 204) {
  const received: ReceivedWebhook[] = [];
  let count = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const status = respond(count++);
      // 0: never answer, as a receiver that hangs until the sender's timeout.
      if (status === 0) return;
      if (status < 300) {
        received.push({ headers: req.headers, body, json: JSON.parse(body), verified: verifyWebhook(secret, req.headers, body) });
      }
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export async function sesInbox(config: Config): Promise<Email[]> {
  const res = await fetch(`${config.SES_ENDPOINT}/store`);
  const store = (await res.json()) as { emails: Email[] };
  return store.emails;
}

export const header = (email: Email, name: string) => email.headers?.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await fn();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}
