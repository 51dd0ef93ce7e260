// How long personal data is kept: each tenant's own setting, else the engine's defaults
// (RETENTION_DAYS, UPLOAD_RETENTION_DAYS), never less than RETENTION_MIN_DAYS. Pure.

export const DAY_MS = 86_400_000;

export interface RetentionDefaults {
  /** Messages, rejected rows and analytics documents. */
  days: number;
  /** Uploaded recipient files and their pinned copies. */
  uploadDays: number;
  /** The least any tenant's setting counts for (a campaign's messages must outlive its sending). */
  minDays: number;
}

/** The documented defaults: a year of campaign records, a month of uploaded lists, at least a day. */
export const DEFAULT_RETENTION: RetentionDefaults = { days: 365, uploadDays: 30, minDays: 1 };

/** A tenant's own retention, when it set one (days; fractions allowed). */
export interface TenantRetention {
  retention_days?: number;
  upload_retention_days?: number;
}

export function effectiveRetention(tenant: TenantRetention | undefined, defaults: RetentionDefaults): { days: number; uploadDays: number } {
  return {
    days: Math.max(tenant?.retention_days ?? defaults.days, defaults.minDays),
    uploadDays: Math.max(tenant?.upload_retention_days ?? defaults.uploadDays, defaults.minDays),
  };
}

/**
 * When an item written now expires (epoch seconds, as DynamoDB's TTL reads them): `days` after
 * the later of now and the campaign's send time, so a scheduled campaign's messages are kept for
 * the whole retention after they are sent.
 */
export function expiresAtSeconds(nowMs: number, days: number, sendAt?: string): number {
  const send = sendAt === undefined ? Number.NaN : Date.parse(sendAt);
  const from = Number.isNaN(send) ? nowMs : Math.max(nowMs, send);
  return Math.ceil((from + days * DAY_MS) / 1000);
}

/** The cut-off of a sweep at `nowMs`: what is older than this is past its retention. */
export const retentionCutoff = (nowMs: number, days: number) => new Date(nowMs - days * DAY_MS);
