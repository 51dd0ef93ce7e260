// Issue 16, item 5: one OpenTelemetry trace from POST /campaigns through the Temporal client, the
// transaction and batch workflows (interceptors in the real workflow bundle, spans out through
// the sink), the ingest and send-chunk activities, the AWS SDK calls and the webhook posts, on
// the real local stack. The spans land in an in-memory exporter registered in this process,
// where the harness runs the worker and the API; the span tree is printed.
import { afterAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { startTracing } from '../../src/tracing';
import { createLogger } from '../../src/logging';
import { TENANTS, startWebhookReceiver, uploadCsv, useEngine, waitFor, waitForStatus } from '../support/harness';

// Registered before useEngine's beforeAll builds the worker and the API, so both are traced.
const exporter = new InMemorySpanExporter();
const tracing = startTracing({ serviceName: 'email-engine-test', spanProcessor: new SimpleSpanProcessor(exporter) })!;
afterAll(() => tracing.shutdown());

// SES events flow to the API, so the campaign reaches COMPLETED and its workflows end (their run
// spans are exported when they end).
const engine = useEngine({
  events: 'connect',
  template: { subject: 'Hello {{ first_name }}', html: '<p>Hi {{ first_name }}</p>', text: 'Hi {{ first_name }}' },
});

/** The span tree under `rootId`, indented; sibling leaves of one name are folded into one line ("SESv2.SendEmail ×50"). */
function spanTree(spans: ReadableSpan[], rootId: string): string[] {
  const children = new Map<string, ReadableSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanId ?? '';
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const kidsOf = (span: ReadableSpan) =>
    (children.get(span.spanContext().spanId) ?? []).sort((a, b) => hrNanos(a.startTime) - hrNanos(b.startTime));
  const lines: string[] = [];
  const walk = (span: ReadableSpan, depth: number, count = 1) => {
    lines.push(`${'  '.repeat(depth)}${span.name}${count > 1 ? ` ×${count}` : ''}`);
    const kids = kidsOf(span);
    const leaves = new Map<string, number>();
    for (const kid of kids) if (kidsOf(kid).length === 0) leaves.set(kid.name, (leaves.get(kid.name) ?? 0) + 1);
    const printed = new Set<string>();
    for (const kid of kids) {
      if (kidsOf(kid).length > 0) walk(kid, depth + 1);
      else if (!printed.has(kid.name)) {
        printed.add(kid.name);
        walk(kid, depth + 1, leaves.get(kid.name));
      }
    }
  };
  walk(
    spans.find((s) => s.spanContext().spanId === rootId)!,
    0,
  );
  return lines;
}

const hrNanos = ([seconds, nanos]: [number, number]) => seconds * 1e9 + nanos;

/** The names of `span`'s ancestors, nearest first (stops where a parent was not exported). */
function ancestry(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const names: string[] = [];
  for (
    let at = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
    at;
    at = at.parentSpanId ? byId.get(at.parentSpanId) : undefined
  ) {
    names.push(at.name);
  }
  return names;
}

describe('tracing', () => {
  it('links POST /campaigns to the ingest activity and a send chunk in one trace', async () => {
    const rows = ['email,first_name', ...Array.from({ length: 120 }, (_, i) => `traced${i}@example.com,Name${i}`)];
    const fileId = await uploadCsv(engine.api, rows.join('\n') + '\n');
    const hooks = await startWebhookReceiver(TENANTS.a.webhookSecret);
    try {
      exporter.reset();
      const started = await engine.api.post('/api/v1/campaigns', {
        template_id: engine.templateId,
        file_id: fileId,
        callback_url: hooks.url,
      });
      expect(started.status).toBe(202);
      const id = started.body.transaction_id as string;
      const final = await waitForStatus(engine.api, id, ['COMPLETED', 'FAILED'], 150_000);
      expect(final.status).toBe('COMPLETED');

      // The HTTP span of this request, and the spans of its trace once the workflow's run span is in.
      const http = await waitFor('the POST /campaigns span', async () =>
        exporter.getFinishedSpans().find((s) => s.name === 'POST /api/v1/campaigns' && s.attributes['http.response.status_code'] === 202),
      )
        // What was exported instead, when it never comes.
        .catch((error: Error) => {
          const names = [...new Set(exporter.getFinishedSpans().map((s) => s.name))];
          throw new Error(`${error.message}; exported: ${names.join(', ') || 'nothing'}`);
        });
      const traceId = http.spanContext().traceId;
      const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
      await waitFor('the transaction workflow run span', async () =>
        inTrace().find((s) => s.name === 'RunWorkflow:transactionWorkflow') ? true : undefined,
      );
      // The webhook posts for SENT, in the same trace.
      await waitFor('the SENT webhook span', async () =>
        inTrace().find((s) => s.name === 'webhook POST' && s.attributes['email_engine.webhook_status'] === 'SENT') ? true : undefined,
      );
      const spans = inTrace();

      const ingest = spans.find((s) => s.name === 'RunActivity:ingestRecipients');
      const send = spans.find((s) => s.name === 'RunActivity:sendBatchChunk');
      expect(ingest, 'ingest activity span in the trace').toBeDefined();
      expect(send, 'send-chunk activity span in the trace').toBeDefined();
      // Each reaches the HTTP span through the workflow spans, not merely by sharing an id.
      expect(ancestry(ingest!, spans)).toEqual([
        'StartActivity:ingestRecipients',
        'RunWorkflow:transactionWorkflow',
        'StartWorkflow:transactionWorkflow',
        'POST /api/v1/campaigns',
      ]);
      expect(ancestry(send!, spans)).toEqual(
        expect.arrayContaining(['StartActivity:sendBatchChunk', 'RunWorkflow:batchWorkflow', 'StartChildWorkflow:batchWorkflow']),
      );
      expect(ancestry(send!, spans).at(-1)).toBe('POST /api/v1/campaigns');
      // AWS SDK calls under the activities: the S3 read of the CSV in the ingest, SES sends in the chunk.
      expect(spans.some((s) => s.name.startsWith('S3.') && ancestry(s, spans).includes('RunActivity:ingestRecipients'))).toBe(true);
      expect(spans.some((s) => s.name === 'SESv2.SendEmail' && ancestry(s, spans).includes('RunActivity:sendBatchChunk'))).toBe(true);
      expect(spans.some((s) => s.name.startsWith('DynamoDB.'))).toBe(true);
      // The webhook request carried the trace on: its traceparent names this trace.
      const delivered = await waitFor('the SENT webhook', async () => hooks.received.find((h) => h.json.status === 'SENT'));
      expect(delivered.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));

      console.log(`trace ${traceId}: ${spans.length} spans\n${spanTree(spans, http.spanContext().spanId).join('\n')}`);
    } finally {
      await hooks.close();
    }
  });

  it("links a caller's traceparent without continuing it, and keeps paths and addresses out of spans", async () => {
    exporter.reset();
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const address = `traced-path-${Date.now()}@example.com`;
    const res = await fetch(`${engine.url}/api/v1/suppressions/${encodeURIComponent(address)}`, {
      headers: { 'x-api-key': TENANTS.a.apiKey, traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`, baggage: 'user=someone' },
    });
    expect(res.status).toBe(404);
    const span = await waitFor('the GET suppression span', async () =>
      exporter.getFinishedSpans().find((s) => s.name === 'GET /api/v1/suppressions/:email'),
    );
    expect(span.spanContext().traceId).not.toBe(callerTrace);
    expect(span.parentSpanId).toBeUndefined();
    expect(span.links.map((l) => l.context.traceId)).toEqual([callerTrace]);
    const exported = JSON.stringify(exporter.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })));
    expect(exported).not.toContain('traced-path-');
    expect(exported).not.toContain('someone');
  });

  it('puts the active trace id on every log line', () => {
    const lines: string[] = [];
    const log = createLogger({ component: 'test' }, 'info', (line) => lines.push(line));
    log.info('outside a span');
    const traceId = trace.getTracer('test').startActiveSpan('logged', (span) => {
      log.info('inside a span');
      span.end();
      return span.spanContext().traceId;
    });
    expect(JSON.parse(lines[0]!).trace_id).toBeUndefined();
    expect(JSON.parse(lines[1]!).trace_id).toBe(traceId);
  });
});
