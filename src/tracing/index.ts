// OpenTelemetry tracing (issue 16, item 5): one trace from the API request through the Temporal
// client, the workflows (their interceptors run inside the workflow bundle and hand their spans
// out through a sink), the activities, the AWS SDK calls and the webhook posts.
//
// Off unless configured (OTEL_TRACES_EXPORTER, or an OTLP endpoint): then no provider is
// registered, the OpenTelemetry API stays its no-op self and every helper here passes straight
// through, so tests and `npm start` pay nothing by default.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  context,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from '@opentelemetry/api';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { ClientInterceptors } from '@temporalio/client';
import type { InjectedSinks, WorkerOptions } from '@temporalio/worker';
import { redactAddresses } from '../logging';
import type { Config } from '../config';

const TRACER = 'email-engine';

export type TracesExporter = 'none' | 'otlp' | 'console';

/** What the OTEL_* variables ask for: an exporter only when one is named or an OTLP endpoint is set. */
export function tracesExporterFrom(
  config: Pick<Config, 'OTEL_TRACES_EXPORTER' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'>,
): TracesExporter {
  if (config.OTEL_TRACES_EXPORTER) return config.OTEL_TRACES_EXPORTER;
  return config.OTEL_EXPORTER_OTLP_ENDPOINT || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : 'none';
}

interface ActiveTracing {
  provider: NodeTracerProvider;
  processor: SpanProcessor;
  resource: Resource;
}

let active: ActiveTracing | undefined;

export interface TracingOptions {
  serviceName: string;
  /** From tracesExporterFrom; ignored when `spanProcessor` is given. */
  exporter?: TracesExporter;
  /** A processor of the caller's (a test's in-memory exporter). */
  spanProcessor?: SpanProcessor;
}

/**
 * Registers the global tracer provider (once per process; later calls return the first). Answers
 * undefined, registering nothing, when no exporter is configured.
 */
export function startTracing(options: TracingOptions): { shutdown(): Promise<void> } | undefined {
  if (active) return { shutdown: shutdownTracing };
  const exporter = options.exporter ?? 'none';
  if (!options.spanProcessor && exporter === 'none') return undefined;
  const processor =
    options.spanProcessor ??
    (exporter === 'console' ? new SimpleSpanProcessor(new ConsoleSpanExporter()) : new BatchSpanProcessor(new OTLPTraceExporter()));
  const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME || options.serviceName });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // The AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  active = { provider, processor, resource };
  return { shutdown: shutdownTracing };
}

/** Starts tracing from the config (the worker's and the API's main). */
export function startTracingFromConfig(config: Config, defaultServiceName: string) {
  return startTracing({ serviceName: config.OTEL_SERVICE_NAME ?? defaultServiceName, exporter: tracesExporterFrom(config) });
}

async function shutdownTracing(): Promise<void> {
  const was = active;
  if (!was) return;
  active = undefined;
  await was.provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
}

export function tracingEnabled(): boolean {
  return active !== undefined;
}

export { activeTraceId } from './trace-id';

/** Runs `fn` in a span of its own (a child of the active one); records a throw as the span's error. */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  kind: SpanKind = SpanKind.INTERNAL,
): Promise<T> {
  if (!active) return fn(trace.wrapSpanContext(INVALID_SPAN_CONTEXT));
  return trace.getTracer(TRACER).startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      // An error's message can quote an address (an SES rejection, a suppression): redacted as in the logs.
      const message = redactAddresses(String((error as Error).message));
      span.recordException({ name: (error as Error).name, message });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** `headers` with the active context's `traceparent` (and `tracestate`) added, for an outgoing request. */
export function withTraceHeaders(headers: Record<string, string>): Record<string, string> {
  if (!active) return headers;
  const carrier: Record<string, string> = { ...headers };
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** The Temporal client's interceptors: a span per start/signal/query, its context in the headers. */
export function tracingClientInterceptors(): ClientInterceptors | undefined {
  return active ? { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } : undefined;
}

/**
 * The worker's share: activity interceptors (a span per execution, a child of the workflow's
 * schedule span; trace ids on the SDK's activity log lines) and the sink the bundled workflow
 * interceptors export their spans to. The sink is always there (the interceptors are always
 * in the bundle, src/tracing/workflow-modules.ts); with tracing off it drops what it gets.
 */
export function tracingWorkerOptions(): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const exporter = active
    ? makeWorkflowExporter(active.processor, active.resource)
    : makeWorkflowExporter(new NoopSpanProcessor(), Resource.empty());
  const sinks: InjectedSinks<OpenTelemetrySinks> = { exporter };
  if (!active) return { sinks };
  return {
    sinks,
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
  };
}

const headerGetter: TextMapGetter<IncomingMessage> = {
  keys: (req) => Object.keys(req.headers),
  get: (req, key) => req.headers[key],
};

/**
 * A server span around every request `handler` serves, named by method and route pattern
 * (`POST /api/v1/campaigns`: never the path, which can hold an address or an unsubscribe token).
 * The API is public: a caller's `traceparent` is linked, never continued (its trace id and
 * baggage would otherwise travel into workflow histories and out on webhooks). With tracing
 * off, `handler` itself.
 */
export function withHttpSpans(handler: RequestListener): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    if (!active) return handler(req, res);
    const caller = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, req, headerGetter));
    const parent: Context = ROOT_CONTEXT;
    const span = trace.getTracer(TRACER).startSpan(
      req.method ?? 'HTTP',
      {
        kind: SpanKind.SERVER,
        root: true,
        attributes: { 'http.request.method': req.method ?? '' },
        ...(caller ? { links: [{ context: caller }] } : {}),
      },
      parent,
    );
    res.once('finish', () => {
      const routed = req as IncomingMessage & { route?: { path?: string }; baseUrl?: string };
      const locals = (res as ServerResponse & { locals?: { routeBase?: string } }).locals;
      const path = routed.route?.path;
      // A router's root route ('/') names the router's own path: /api/v1/campaigns, not /api/v1/campaigns/.
      const joined = path === undefined ? undefined : `${locals?.routeBase ?? routed.baseUrl ?? ''}${path}`;
      const route = joined && joined.length > 1 ? joined.replace(/\/$/, '') : joined;
      if (route) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    res.once('close', () => {
      if (!res.writableFinished) span.end();
    });
    context.with(trace.setSpan(parent, span), () => handler(req, res));
  };
}

/** The smallest view of an AWS SDK v3 client this needs: its middleware stack. */
interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        ctx: { clientName?: string; commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; name: string; override?: boolean },
    ): void;
  };
}

/**
 * A client span for every command the clients send (`DynamoDB.PutItem`, `SESv2.SendEmail`), retries
 * and all, as a middleware on each client's stack: it works on whatever SDK build is loaded. A no-op
 * with tracing off (checked per call, so clients made before tracing started still trace).
 */
export function traceAwsClients(...clients: object[]): void {
  for (const client of clients as MiddlewareClient[]) {
    client.middlewareStack.add(
      (next, ctx) => (args) => {
        if (!active) return next(args);
        const service = (ctx.clientName ?? 'AWS').replace(/Client$/, '');
        const operation = (ctx.commandName ?? 'Command').replace(/Command$/, '');
        return withSpan(
          `${service}.${operation}`,
          { 'rpc.system': 'aws-api', 'rpc.service': service, 'rpc.method': operation },
          async (span) => {
            try {
              const output = (await next(args)) as { response?: { statusCode?: number } };
              if (output.response?.statusCode) span.setAttribute('http.response.status_code', output.response.statusCode);
              return output;
            } catch (error) {
              const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
              if (status) span.setAttribute('http.response.status_code', status);
              throw error;
            }
          },
          SpanKind.CLIENT,
        );
      },
      { step: 'initialize', name: 'emailEngineTracing', override: true },
    );
  }
}
