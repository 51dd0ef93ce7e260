// Every setting of the engine, read from the environment in one place and checked with zod.
// A bad value stops the process at start with a message that names the variable.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { SEND_HEARTBEAT_TIMEOUT_MS } from '../contracts';
import { AWS_TIMEOUTS } from '../adapters/aws';
import { DEFAULT_RETENTION, type RetentionDefaults } from '../domain/retention';
import { parseRetryDelays } from '../domain/soft-bounce';
import { parseFairnessWeights } from '../domain/campaign-priority';
import { webhookSecretProblem } from '../domain/webhook-signature';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** A comma-separated list, entries trimmed, empty ones dropped. */
const commaList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
const optionalUrl = z.string().url().optional();

/** A string setting that must parse with `parse` (which throws on a bad value), with the reason given when it does not. */
const parsedBy = (parse: (value: string) => unknown, fallback: string, reason: string) =>
  z
    .string()
    .default(fallback)
    .refine((v) => {
      try {
        parse(v);
        return true;
      } catch {
        return false;
      }
    }, reason);

/** A resolver address as node:dns setServers takes it: "ip", "ip:port" or "[v6]:port". */
function isDnsServer(entry: string): boolean {
  const match = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(entry) ?? /^([^:]+)(?::(\d{1,5}))?$/.exec(entry);
  const host = match ? match[1]! : entry;
  const portText = match?.[2];
  return isIP(host) !== 0 && (portText === undefined || (Number(portText) > 0 && Number(portText) <= 65535));
}

/** JWS algorithms a bearer token may be signed with (asymmetric; see OAUTH_ALGORITHMS). */
export const OAUTH_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const configSchema = z.object({
  APP_ENV: z.enum(['local', 'test', 'production']).default('local'),
  PORT: port.default(3000),
  /** The address the API listens on; loopback unless set (a container sets 0.0.0.0). */
  HOST: z.string().min(1).default('127.0.0.1'),
  // Client addresses behind a proxy (issue 14, security review). The limits per client address
  // (unknown API keys, SNS certificate downloads) key on req.ip; behind a load balancer that is
  // the balancer's own address for every client unless its X-Forwarded-For is trusted. The number
  // of proxy hops in front of the API whose X-Forwarded-For entries to believe: 0 (the default)
  // ignores the header; 1 takes the entry the one load balancer appended. Never more than the
  // real hops: a client could then name any address it likes.
  TRUST_PROXY: z.coerce.number().int().min(0).max(10).default(0),
  /** When set, /metrics is served on this port (at METRICS_HOST) and not on the API's. */
  METRICS_PORT: port.optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // The worker's metrics (issue 16): the engine's own on WORKER_METRICS_PORT (unset: not served;
  // 0: a free port), the Temporal SDK's runtime metrics on TEMPORAL_METRICS_PORT (a separate
  // endpoint), and the gauges' collector refreshing every COLLECT_INTERVAL_SECONDS.
  WORKER_METRICS_PORT: port.optional(),
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  TEMPORAL_METRICS_PORT: port.optional(),
  TEMPORAL_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  COLLECT_INTERVAL_SECONDS: z.coerce.number().positive().default(15),
  /**
   * `off`: the engine's own metrics (issue 16) are neither counted nor served, in the worker and
   * the API's event path (HTTP metrics stay): for measuring what they cost (`npm run bench --
   * --metrics off`), or for a deployment that does not want them.
   */
  ENGINE_METRICS: z.enum(['on', 'off']).default('on'),
  /**
   * The platform operator's credential (X-Operator-Token): /healthz shows its components'
   * details, and /metrics answers on the API's port, only to it. Required in production.
   */
  OPERATOR_TOKEN: z.string().min(32).optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  // Tracing (issue 16, item 5), by OpenTelemetry's own variables: off unless OTEL_TRACES_EXPORTER
  // names an exporter or an OTLP endpoint is set (then otlp). The OTLP exporter reads the rest of
  // the OTEL_EXPORTER_OTLP_* variables (headers, protocol, timeouts) itself.
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  /** The service name on every span; unset: email-engine-api / email-engine-worker. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** `npm start` only: `jaeger` also starts a local Jaeger and points OTLP at it. */
  TRACING: z.enum(['none', 'jaeger']).default('none'),
  /** The Jaeger binary for TRACING=jaeger; unset: `jaeger` on PATH, else built with Go into the cache (src/local/jaeger.ts). */
  JAEGER_PATH: z.string().min(1).optional(),
  PUBLIC_BASE_URL: optionalUrl,

  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('email-engine'),
  TEMPORAL_SEND_TASK_QUEUE: z.string().min(1).default('email-engine-send'),

  AWS_REGION: z.string().min(1).default('us-east-1'),
  AWS_ENDPOINT_MODE: z.enum(['local', 'aws']).default('local'),
  DYNAMODB_ENDPOINT: optionalUrl,
  DYNAMODB_TABLE: z.string().min(3).default('email-engine'),
  /** `off`: each message transition is its own UpdateItem instead of grouped TransactWriteItems (grouped-updates.ts). */
  DYNAMODB_GROUP_TRANSITIONS: z.enum(['on', 'off']).default('on'),
  S3_ENDPOINT: optionalUrl,
  S3_BUCKET: z.string().min(3).default('email-engine'),
  SES_ENDPOINT: optionalUrl,
  SES_CONFIGURATION_SET: z.string().min(1).default('email-engine'),
  // Sender identities (issue 14, item 1): the account whose SES identities tenants send as, for
  // the ARN each send names (FromEmailAddressIdentityArn). A setting, not an STS call at start:
  // nothing more to permit or to fail, and it may name the account that authorised sending.
  // Required with AWS_ENDPOINT_MODE=aws: the worker and the API refuse to start without it.
  SES_IDENTITY_ACCOUNT_ID: z
    .string()
    .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
    .optional(),
  // A claim none of whose identities is verified this long after the first is given up to the
  // next tenant that claims under its domain (hours; fractions allowed), so nobody holds a
  // domain it never proves. And how many identities a tenant may hold, unverified and in all:
  // SES mails each address identity a link, and counts every identity against the account's
  // quota. At most 50 unverified, so an expired claim is released in one DynamoDB transaction.
  IDENTITY_PENDING_TTL_HOURS: z.coerce.number().positive().default(72),
  IDENTITY_MAX_PENDING_PER_TENANT: positiveInt.max(50).default(10),
  IDENTITY_MAX_PER_TENANT: positiveInt.max(10_000).default(100),
  // Topics (issue 15, item 7): how many topics a tenant may define (PUT /topics/{name} past it is 413).
  TOPICS_MAX_PER_TENANT: positiveInt.max(1000).default(100),

  // The reputation guard (issue 16, item 4; src/reputation/guard.ts). Per tenant, sends, hard
  // bounces and complaints over a rolling window; past a rate (SES's review thresholds by
  // default), with at least REPUTATION_MIN_SENDS sends in the window, the tenant's sending
  // campaigns are paused. hold: pause and refuse new campaigns; observe: rates and gauges only;
  // off: nothing counted. Unset: hold against AWS, observe on the local stack (whose mailbox
  // simulator bounces and complains on purpose).
  REPUTATION_GUARD: z.enum(['hold', 'observe', 'off']).optional(),
  REPUTATION_WINDOW_SECONDS: positiveInt.default(24 * 3600),
  REPUTATION_BUCKET_SECONDS: positiveInt.default(3600),
  REPUTATION_MIN_SENDS: positiveInt.default(500),
  REPUTATION_BOUNCE_RATE: z.coerce.number().gt(0).max(1).default(0.05),
  REPUTATION_COMPLAINT_RATE: z.coerce.number().gt(0).max(1).default(0.001),
  /** A check runs this long after the first bounce or complaint that asks for it (one per tenant meanwhile). */
  REPUTATION_CHECK_DEBOUNCE_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  /** Each bucket's counters are spread over this many items (by message id), summed on read. */
  REPUTATION_COUNTER_SHARDS: positiveInt.max(256).default(128),
  // SES account quota (issue 16, item 4): read with GetAccount at worker start and every
  // SES_QUOTA_POLL_SECONDS; the send rate is the least of SEND_RATE_PER_SECOND and MaxSendRate.
  // Set, these stand in for the account's figures (the local stack; or to stay below them).
  SES_MAX_24H_SEND: positiveInt.optional(),
  SES_MAX_SEND_RATE: z.coerce.number().positive().optional(),
  SES_QUOTA_POLL_SECONDS: positiveInt.default(300),

  SEND_RATE_PER_SECOND: z.coerce.number().positive().default(14),
  SEND_CHUNK_SIZE: positiveInt.max(1000).default(1000),
  BATCH_SIZE: positiveInt.max(1000).default(500),
  MAX_CONCURRENT_BATCHES: positiveInt.max(500).default(4),
  // Send chunks each batch of a high-priority campaign keeps in flight at once (unthrottled
  // campaigns only; 1: one at a time, as the others). One at a time, the send queue sits idle for
  // the batch between its chunks, and a busy low-priority campaign fills those gaps.
  HIGH_PRIORITY_SEND_LANES: positiveInt.max(16).default(4),
  MAX_CSV_BYTES: positiveInt.default(50 * 1024 * 1024),
  MAX_TEMPLATE_BYTES: positiveInt.default(512 * 1024),
  PRESIGNED_URL_TTL_SECONDS: positiveInt.max(7 * 24 * 3600).default(900),
  // Result exports (issue 15, item 5): how long a download link is valid (each GET gives a fresh
  // one), how many exports of one campaign may run at once (409 past it), and the size of each
  // multipart part the exporter uploads (S3's least is 5 MiB; memory holds about one part).
  EXPORT_URL_TTL_SECONDS: positiveInt.max(7 * 24 * 3600).default(900),
  EXPORT_MAX_RUNNING_PER_CAMPAIGN: positiveInt.max(10).default(2),
  EXPORT_PART_BYTES: positiveInt
    .min(5 * 1024 * 1024)
    .max(512 * 1024 * 1024)
    .default(8 * 1024 * 1024),
  // Suppression import (issue 15, item 6): the largest file a start accepts (413 past it), the
  // most data lines a file may have (past it the import fails before writing anything), how
  // many rejected lines its report lists, and BatchWriteItem requests in flight per import.
  SUPPRESSION_IMPORT_MAX_BYTES: positiveInt.default(100 * 1024 * 1024),
  SUPPRESSION_IMPORT_MAX_LINES: positiveInt.default(1_000_000),
  SUPPRESSION_IMPORT_MAX_REPORTED_LINES: positiveInt.max(2000).default(1000),
  SUPPRESSION_IMPORT_WRITE_CONCURRENCY: positiveInt.max(64).default(8),
  // Template versions, preview and test send (issue 15, items 2 and 3): how many versions a
  // template may have, and how many test messages a tenant may send an hour (each address one;
  // a fixed clock hour, counted in DynamoDB, so every API process shares it).
  TEMPLATE_MAX_VERSIONS: positiveInt.max(1000).default(100),
  TEST_SEND_MAX_PER_HOUR: positiveInt.max(10_000).default(20),
  WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
  // Per-message event webhooks (issue 17, item 1; README "Event webhooks"): endpoints per tenant,
  // the delivery task queue (default: TEMPORAL_TASK_QUEUE + "-event-webhooks"), how far behind
  // now the reader stays (writes in flight, clock skew between API processes), the backoff cap,
  // how long an event is retried before it is given up, the log's retention, the endpoint-list
  // cache of the processes that log, the longest replay, and how long a POST collects events.
  EVENT_WEBHOOKS_MAX_PER_TENANT: positiveInt.max(100).default(20),
  EVENT_WEBHOOK_TASK_QUEUE: z.string().min(1).optional(),
  EVENT_WEBHOOK_READ_LAG_SECONDS: z.coerce.number().min(1).max(60).default(5),
  EVENT_WEBHOOK_RETRY_CAP_SECONDS: z.coerce.number().min(1).max(3600).default(300),
  EVENT_WEBHOOK_MAX_AGE_SECONDS: positiveInt.min(60).default(3 * 24 * 3600),
  EVENT_LOG_RETENTION_DAYS: positiveInt.max(365).default(7),
  EVENT_WEBHOOK_ENDPOINT_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(10),
  EVENT_WEBHOOK_REPLAY_MAX_HOURS: positiveInt.max(24 * 31).default(72),
  EVENT_WEBHOOK_BATCH_WINDOW_MS: positiveInt.max(60_000).default(1000),
  // Webhook SSRF guard (issue 14, items 2 and 3): on in every mode. The local and test stacks
  // allow private networks explicitly (their receivers listen on 127.0.0.1); production refuses it.
  CALLBACK_ALLOW_PRIVATE_NETWORKS: bool.default(false),
  /** Resolvers for callback hosts instead of the system's, "ip" or "ip:port" ("[v6]:port"), comma-separated. */
  CALLBACK_DNS_SERVERS: commaList('').refine(
    (servers) => servers.every(isDnsServer),
    'each entry must be an IP address, optionally with :port ([v6]:port for IPv6)',
  ),
  FINAL_STATE_DEADLINE_SECONDS: positiveInt.default(24 * 3600),
  OUTCOME_POLL_SECONDS: positiveInt.default(300),
  /** An API process writes what it counted for a batch's outcomes and a tenant's reputation as one sum per this long (src/sums.ts). */
  COUNT_FLUSH_MS: z.coerce.number().int().min(0).max(10_000).default(2000),
  // Issue 17, item 2: the delay before each retry of a soft-bounced message (three by default:
  // 1 h, 4 h, 12 h), within FINAL_STATE_DEADLINE_SECONDS of its first send; empty: no retries.
  SOFT_BOUNCE_RETRY_DELAYS_SECONDS: parsedBy(
    parseRetryDelays,
    '3600,14400,43200',
    'a comma-separated list of positive seconds, such as 3600,14400,43200 (empty: no retries)',
  ),
  // Issue 17, item 3: fairness weights on the shared send queue by tenant, as the operator sets
  // them ("tenant-a=2,tenant-b=0.5"; a tenant not named weighs 1). Clamped by Temporal to 0.001–1000.
  TENANT_FAIRNESS_WEIGHTS: parsedBy(
    parseFairnessWeights,
    '',
    'a comma-separated list of tenant=weight, each weight above 0 and at most 1000 ("tenant-a=2,tenant-b=0.5")',
  ),
  // The tenants whose campaigns may take priority high ("*": every tenant). A priority key outranks
  // fairness on Temporal's queues, so a tenant allowed high can delay every other tenant's sends:
  // the operator grants it; a tenant not named gets 403 PRIORITY_NOT_ALLOWED for high.
  TENANT_HIGH_PRIORITY: commaList(''),
  // An address with this many soft bounces within SOFT_BOUNCE_SUPPRESS_WINDOW_DAYS, across the
  // tenant's campaigns, is suppressed (BOUNCE_SOFT_REPEATED); 0: never (the default).
  SOFT_BOUNCE_SUPPRESS_AFTER: z.coerce.number().int().min(0).max(1000).default(0),
  SOFT_BOUNCE_SUPPRESS_WINDOW_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  // Comfortably longer than a send attempt's heartbeat timeout plus a delayed Send event
  // (SNS retrying, API and workers restarting together): see MIN_SENDING_GRACE_SECONDS.
  SENDING_GRACE_SECONDS: positiveInt.default(300),
  // Used instead when the configuration set publishes no Send events (checked at worker start).
  SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS: positiveInt.default(3600),
  LATE_SEND_TOLERANCE_SECONDS: positiveInt.default(900),
  LATE_SEND_POLICY: z.enum(['hold', 'send']).default('hold'),

  SNS_TOPIC_ARNS: commaList('arn:aws:sns:us-east-1:000000000000:email-engine-ses-events'),
  /** Local and test only: certificate URL prefixes trusted besides Amazon's SNS hosts. */
  SNS_TRUSTED_CERT_URLS: commaList(''),
  // SNS replay window (issue 14, item 5; rules atop src/adapters/sns-verifier.ts). SNS stops
  // retrying an HTTP/S delivery within 3,600 s (a hard limit) and keeps the first Timestamp on
  // every retry, so no genuine message is older: more would only widen the replay window; less
  // than a minute would refuse SNS's default retries (three, 20 s apart).
  SNS_MAX_MESSAGE_AGE_SECONDS: positiveInt.min(60).max(3600).default(3600),
  // Allowed difference between Amazon's clock and ours, either way (also added to the age).
  SNS_CLOCK_SKEW_SECONDS: positiveInt.max(900).default(300),
  UNSUBSCRIBE_SECRET: z.string().min(16).optional(),

  /** Analytics; unset: the local stack starts OpenSearch, or (elsewhere) analytics are off. */
  OPENSEARCH_URL: optionalUrl,
  OPENSEARCH_AWS_REGION: z.string().min(1).optional(),
  OPENSEARCH_AWS_SERVICE: z.enum(['es', 'aoss']).default('es'),
  OPENSEARCH_INDEX_PREFIX: z.string().default(''),
  OPENSEARCH_LOCAL: z.enum(['auto', 'off']).default('auto'),

  DEV_TENANT_ID: z.string().min(1).default('dev'),
  DEV_API_KEY: z.string().min(16).optional(),
  // Standard Webhooks format only (issue 14, item 7): receivers' official libraries read no other.
  DEV_WEBHOOK_SECRET: z
    .string()
    .superRefine((secret, ctx) => {
      const problem = webhookSecretProblem(secret);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          message: `${problem}; generate one with: node -e "console.log('whsec_'+require('crypto').randomBytes(24).toString('base64'))"`,
        });
    })
    .optional(),

  // Campaign listing (issue 15, item 1): the most items one GET /campaigns reads from the tenant
  // index. Status, tag and name are filters DynamoDB applies after reading; past this the page
  // ends, perhaps short, with a cursor, so one request never reads a tenant's whole history.
  CAMPAIGN_LIST_READ_BUDGET: positiveInt.max(100_000).default(2000),

  LOCAL_STACK_DIR: z.string().min(1).default('.local-stack'),
  /** Requests per minute one tenant may make to /api/v1 before it gets 429 with Retry-After. */
  API_RATE_LIMIT_PER_MINUTE: positiveInt.default(6000),
  // Campaign progress streams (issue 16, item 7: GET /campaigns/{id}/stream, Server-Sent Events):
  // open at once per tenant and in one API process (past either: 429 TOO_MANY_STREAMS), and the
  // seconds between keep-alive comments, and the longest a stream lasts before the server ends it
  // (an EventSource then reconnects with Last-Event-ID) (fractions allowed, for tests).
  STREAMS_MAX_PER_TENANT: positiveInt.max(10_000).default(20),
  STREAMS_MAX_PER_PROCESS: positiveInt.max(100_000).default(1000),
  STREAM_HEARTBEAT_SECONDS: z.coerce.number().positive().max(3600).default(15),
  STREAM_MAX_SECONDS: z.coerce.number().positive().max(86_400).default(900),
  // API keys per tenant (issue 14, security review): keys that still authenticate (neither
  // revoked nor expired) one tenant may hold, so that its keys cannot crowd other tenants' out of
  // each API process's key cache. Past it, creating a key is 409 API_KEY_LIMIT_REACHED; rotating
  // one stays possible (the successor may stand beside the old key for its overlap).
  MAX_API_KEYS_PER_TENANT: z.coerce.number().int().min(1).max(1000).default(50),

  // Retention and erasure (issue 14, item 11). Days (fractions allowed); a tenant may set its own
  // (PUT /api/v1/recipients/retention), never below RETENTION_MIN_DAYS. Messages and rejected rows
  // expire by DynamoDB's TTL (counted from the send time), analytics documents and uploaded
  // recipient files by the retention sweep.
  RETENTION_DAYS: z.coerce.number().positive().default(DEFAULT_RETENTION.days),
  UPLOAD_RETENTION_DAYS: z.coerce.number().positive().default(DEFAULT_RETENTION.uploadDays),
  /** The least retention any tenant gets: a campaign's messages must outlive its sending (production refuses less than 1). */
  RETENTION_MIN_DAYS: z.coerce.number().min(0).default(DEFAULT_RETENTION.minDays),
  /** How often the retention sweep's Temporal Schedule runs it; 0: the worker creates no schedule. */
  RETENTION_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(3600),
  /** Between an erasure's first and second pass over analytics (documents an API still held in memory). */
  ERASURE_SETTLE_SECONDS: z.coerce.number().int().min(0).default(60),
  /** How often an erasure looks again at what it waits for (an ingest, a file in use, a message being sent). */
  ERASURE_POLL_SECONDS: positiveInt.default(30),
  /** The longest an erasure waits for a campaign (its ingest, a file it reads, a message being sent); then it erases anyway. */
  ERASURE_MAX_WAIT_SECONDS: positiveInt.default(24 * 3600),

  // OAuth 2.0 bearer tokens beside the API key (issue 14, item 9): off unless OAUTH_ISSUER is set.
  OAUTH_ISSUER: optionalUrl,
  /** Unset: the jwks_uri of the issuer's OpenID discovery document, else `<issuer>/jwks`. */
  OAUTH_JWKS_URL: optionalUrl,
  /** The `aud` a token must carry; required with OAUTH_ISSUER. */
  OAUTH_AUDIENCE: z.string().min(1).optional(),
  OAUTH_TENANT_CLAIM: z.string().min(1).default('tenant_id'),
  /** A space-separated string (RFC 8693 `scope`) or an array of scopes. */
  OAUTH_SCOPE_CLAIM: z.string().min(1).default('scope'),
  /** Asymmetric algorithms only: `none` and HMAC (whose key a verifier would have to share) are refused. */
  OAUTH_ALGORITHMS: commaList('RS256,ES256,EdDSA').pipe(z.array(z.enum(OAUTH_ALGORITHMS)).min(1)),
  OAUTH_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
});

export type Config = z.infer<typeof configSchema>;

/**
 * The least grace production accepts before resending a message an earlier attempt left
 * SENDING: that attempt's heartbeat timeout (after which Temporal starts the retry) and its
 * SES call's request timeout must both have passed, with room for the Send event to arrive.
 */
export const MIN_SENDING_GRACE_SECONDS = (2 * SEND_HEARTBEAT_TIMEOUT_MS + AWS_TIMEOUTS.sesRequestMs) / 1000;

/**
 * Messages per send activity: SEND_CHUNK_SIZE, but never more than a batch nor more than one
 * second of the platform rate, so the send queue's activity rate limit keeps sends smooth.
 */
export function sendChunkSize(config: Pick<Config, 'SEND_CHUNK_SIZE' | 'BATCH_SIZE' | 'SEND_RATE_PER_SECOND'>): number {
  return Math.max(1, Math.min(config.SEND_CHUNK_SIZE, config.BATCH_SIZE, Math.floor(config.SEND_RATE_PER_SECOND)));
}

/** The retention every tenant has unless it set its own (see src/domain/retention). */
export function retentionDefaults(
  config: Pick<Config, 'RETENTION_DAYS' | 'UPLOAD_RETENTION_DAYS' | 'RETENTION_MIN_DAYS'>,
): RetentionDefaults {
  return { days: config.RETENTION_DAYS, uploadDays: config.UPLOAD_RETENTION_DAYS, minDays: config.RETENTION_MIN_DAYS };
}

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses the environment; empty strings count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') cleaned[key] = value;
  }
  const result = configSchema.safeParse(cleaned);
  if (result.success && result.data.APP_ENV === 'production') {
    const problems: { variable: string; message: string }[] = [];
    if (result.data.SNS_TRUSTED_CERT_URLS.length > 0)
      problems.push({ variable: 'SNS_TRUSTED_CERT_URLS', message: 'must be empty in production' });
    if (result.data.CALLBACK_ALLOW_PRIVATE_NETWORKS)
      problems.push({ variable: 'CALLBACK_ALLOW_PRIVATE_NETWORKS', message: 'must be false in production' });
    if (!result.data.UNSUBSCRIBE_SECRET) problems.push({ variable: 'UNSUBSCRIBE_SECRET', message: 'is required in production' });
    if (!result.data.OPERATOR_TOKEN) problems.push({ variable: 'OPERATOR_TOKEN', message: 'is required in production' });
    if (!result.data.PUBLIC_BASE_URL?.startsWith('https://'))
      problems.push({ variable: 'PUBLIC_BASE_URL', message: 'must be an https URL in production' });
    if (result.data.RETENTION_MIN_DAYS < 1) problems.push({ variable: 'RETENTION_MIN_DAYS', message: 'must be at least 1 in production' });
    if (result.data.SENDING_GRACE_SECONDS < MIN_SENDING_GRACE_SECONDS) {
      problems.push({
        variable: 'SENDING_GRACE_SECONDS',
        message: `must be at least ${MIN_SENDING_GRACE_SECONDS} in production (heartbeat timeout twice plus the SES request timeout)`,
      });
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }
  if (result.success && result.data.APP_ENV !== 'production') {
    // Outside production the SSRF guard may be relaxed and secrets come from a local file:
    // fine on a laptop, never against real AWS or a shared Temporal.
    const remote = remoteTargets(result.data);
    const problems = remote.map((variable) => ({
      variable,
      message: `points at a remote service: set APP_ENV=production (and its settings) to use it`,
    }));
    // Without a token everyone counts as the operator: only on a loopback address.
    if (!isLoopbackHost(result.data.HOST) && !result.data.OPERATOR_TOKEN) {
      problems.push({ variable: 'HOST', message: 'is not a loopback address: set OPERATOR_TOKEN to listen on it' });
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const variable = String(issue.path[0] ?? '(environment)');
        const got = cleaned[variable];
        return {
          variable,
          message: `${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`,
        };
      }),
    );
  }
  const config = result.data;
  checkOAuth(config);
  // Outside production a secret generated once per local stack keeps local links working
  // across restarts (worker and API read the same file); never a fixed, public one.
  config.UNSUBSCRIBE_SECRET ??= localSecret(config.LOCAL_STACK_DIR, 'unsubscribe');
  config.PUBLIC_BASE_URL ??= `http://127.0.0.1:${config.PORT}`;
  return config;
}

/** OAuth settings that only make sense together (issue 14, item 9). */
function checkOAuth(config: Config): void {
  if (!config.OAUTH_ISSUER) return;
  const problems: { variable: string; message: string }[] = [];
  if (!config.OAUTH_AUDIENCE) problems.push({ variable: 'OAUTH_AUDIENCE', message: 'is required with OAUTH_ISSUER' });
  if (config.APP_ENV === 'production') {
    for (const name of ['OAUTH_ISSUER', 'OAUTH_JWKS_URL'] as const) {
      if (config[name] && !config[name].startsWith('https://'))
        problems.push({ variable: name, message: 'must be an https URL in production' });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

function isLoopbackHost(host: string): boolean {
  // Not `*.localhost`: a resolver may send those names to DNS.
  return LOOPBACK_HOSTS.has(host) || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** The variables of `config` that point the engine at something other than this machine. */
export function remoteTargets(config: Config): string[] {
  const remote: string[] = [];
  if (config.AWS_ENDPOINT_MODE === 'aws') remote.push('AWS_ENDPOINT_MODE');
  if (config.OPENSEARCH_AWS_REGION) remote.push('OPENSEARCH_AWS_REGION');
  for (const name of ['DYNAMODB_ENDPOINT', 'S3_ENDPOINT', 'SES_ENDPOINT', 'OPENSEARCH_URL'] as const) {
    const url = config[name];
    if (url && !isLoopbackHost(new URL(url).hostname)) remote.push(name);
  }
  if (config.TEMPORAL_ADDRESS) {
    const host = config.TEMPORAL_ADDRESS.replace(/:\d+$/, '');
    if (!isLoopbackHost(host)) remote.push('TEMPORAL_ADDRESS');
  }
  if (config.TEMPORAL_API_KEY || config.TEMPORAL_TLS) remote.push(config.TEMPORAL_API_KEY ? 'TEMPORAL_API_KEY' : 'TEMPORAL_TLS');
  return remote;
}

/**
 * A random secret kept in `dir`/`name`.secret, created (mode 600) by whichever process needs
 * it first: an exclusive create, so a worker and an API starting together agree on one.
 */
export function localSecret(dir: string, name: string): string {
  const file = join(dir, `${name}.secret`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  // The creator may not have written the bytes yet: wait for them, briefly.
  for (let attempt = 0; attempt < 100; attempt++) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret) return secret;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  throw new Error(`${file} is empty: delete it to generate a new secret`);
}
