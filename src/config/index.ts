// Every setting of the engine, read from the environment in one place and checked with zod.
// A bad value stops the process at start with a message that names the variable.
import { z } from 'zod';
import { SEND_HEARTBEAT_TIMEOUT_MS } from '../contracts';
import { AWS_TIMEOUTS } from '../adapters/aws';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const optionalUrl = z.string().url().optional();

const configSchema = z.object({
  APP_ENV: z.enum(['local', 'test', 'production']).default('local'),
  PORT: port.default(3000),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
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
  S3_ENDPOINT: optionalUrl,
  S3_BUCKET: z.string().min(3).default('email-engine'),
  SES_ENDPOINT: optionalUrl,
  SES_CONFIGURATION_SET: z.string().min(1).default('email-engine'),

  SEND_RATE_PER_SECOND: z.coerce.number().positive().default(14),
  SEND_CHUNK_SIZE: positiveInt.max(1000).default(1000),
  BATCH_SIZE: positiveInt.max(1000).default(500),
  MAX_CONCURRENT_BATCHES: positiveInt.max(500).default(4),
  MAX_CSV_BYTES: positiveInt.default(50 * 1024 * 1024),
  MAX_TEMPLATE_BYTES: positiveInt.default(512 * 1024),
  PRESIGNED_URL_TTL_SECONDS: positiveInt.max(7 * 24 * 3600).default(900),
  WEBHOOK_TIMEOUT_MS: positiveInt.default(10_000),
  FINAL_STATE_DEADLINE_SECONDS: positiveInt.default(24 * 3600),
  OUTCOME_POLL_SECONDS: positiveInt.default(300),
  // Comfortably longer than a send attempt's heartbeat timeout plus a delayed Send event
  // (SNS retrying, API and workers restarting together): see MIN_SENDING_GRACE_SECONDS.
  SENDING_GRACE_SECONDS: positiveInt.default(300),
  // Used instead when the configuration set publishes no Send events (checked at worker start).
  SENDING_GRACE_WITHOUT_SEND_EVENTS_SECONDS: positiveInt.default(3600),
  LATE_SEND_TOLERANCE_SECONDS: positiveInt.default(900),
  LATE_SEND_POLICY: z.enum(['hold', 'send']).default('hold'),

  SNS_TOPIC_ARNS: z
    .string()
    .default('arn:aws:sns:us-east-1:000000000000:email-engine-ses-events')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** Local and test only: certificate URL prefixes trusted besides Amazon's SNS hosts. */
  SNS_TRUSTED_CERT_URLS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  UNSUBSCRIBE_SECRET: z.string().min(16).optional(),

  /** Analytics; unset: the local stack starts OpenSearch, or (elsewhere) analytics are off. */
  OPENSEARCH_URL: optionalUrl,
  OPENSEARCH_AWS_REGION: z.string().min(1).optional(),
  OPENSEARCH_AWS_SERVICE: z.enum(['es', 'aoss']).default('es'),
  OPENSEARCH_INDEX_PREFIX: z.string().default(''),
  OPENSEARCH_LOCAL: z.enum(['auto', 'off']).default('auto'),

  DEV_TENANT_ID: z.string().min(1).default('dev'),
  DEV_API_KEY: z.string().min(16).optional(),
  DEV_WEBHOOK_SECRET: z.string().min(16).optional(),

  LOCAL_STACK_DIR: z.string().min(1).default('.local-stack'),
  /** Requests per minute one tenant may make to /api/v1 before it gets 429 with Retry-After. */
  API_RATE_LIMIT_PER_MINUTE: positiveInt.default(6000),
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
    if (!result.data.UNSUBSCRIBE_SECRET) problems.push({ variable: 'UNSUBSCRIBE_SECRET', message: 'is required in production' });
    if (!result.data.PUBLIC_BASE_URL?.startsWith('https://'))
      problems.push({ variable: 'PUBLIC_BASE_URL', message: 'must be an https URL in production' });
    if (result.data.SENDING_GRACE_SECONDS < MIN_SENDING_GRACE_SECONDS) {
      problems.push({
        variable: 'SENDING_GRACE_SECONDS',
        message: `must be at least ${MIN_SENDING_GRACE_SECONDS} in production (heartbeat timeout twice plus the SES request timeout)`,
      });
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
  // Outside production a fixed secret keeps local links working across restarts.
  config.UNSUBSCRIBE_SECRET ??= 'local-unsubscribe-secret-not-for-production';
  config.PUBLIC_BASE_URL ??= `http://127.0.0.1:${config.PORT}`;
  return config;
}
