// The reputation guard's arithmetic (issue 16, item 4), pure: which time bucket and which shard
// an event counts in, the window a check sums, and the verdict on the sums. The counters live in
// DynamoDB (src/adapters/dynamo/reputation.ts); the guard that acts on a verdict is guard.ts.
import { createHash } from 'node:crypto';
import type { Config } from '../config';

/** What a tenant's counters count: sends SES accepted (the Send event), hard bounces, complaints. */
export type CountKind = 'sends' | 'bounces' | 'complaints';
export const COUNT_KINDS: readonly CountKind[] = ['sends', 'bounces', 'complaints'];
export type Totals = Record<CountKind, number>;
export const noTotals = (): Totals => ({ sends: 0, bounces: 0, complaints: 0 });

/** Why a tenant is held: the label of email_engine_reputation_holds_total and the start of held_reason. */
export type HoldReason = 'bounce_rate' | 'complaint_rate';

export interface GuardSettings {
  mode: 'hold' | 'observe' | 'off';
  windowMs: number;
  bucketMs: number;
  minSends: number;
  bounceRate: number;
  complaintRate: number;
  debounceMs: number;
  shards: number;
  /** The counters' increments a process makes within this long go out as one sum per counter (src/sums.ts); 0 unless set. */
  countFlushMs?: number;
}

/** Unset REPUTATION_GUARD: hold against AWS, observe on the local stack (its simulator bounces on purpose). */
export function guardSettings(config: Config): GuardSettings {
  return {
    mode: config.REPUTATION_GUARD ?? (config.AWS_ENDPOINT_MODE === 'aws' ? 'hold' : 'observe'),
    windowMs: config.REPUTATION_WINDOW_SECONDS * 1000,
    bucketMs: Math.min(config.REPUTATION_BUCKET_SECONDS, config.REPUTATION_WINDOW_SECONDS) * 1000,
    minSends: config.REPUTATION_MIN_SENDS,
    bounceRate: config.REPUTATION_BOUNCE_RATE,
    complaintRate: config.REPUTATION_COMPLAINT_RATE,
    debounceMs: config.REPUTATION_CHECK_DEBOUNCE_MS,
    shards: config.REPUTATION_COUNTER_SHARDS,
    countFlushMs: config.COUNT_FLUSH_MS,
  };
}

/** The start of the bucket `atMs` falls in (buckets are aligned on the epoch). */
export const bucketStart = (atMs: number, bucketMs: number) => Math.floor(atMs / bucketMs) * bucketMs;

/**
 * The buckets a check at `nowMs` sums: every bucket that overlaps the last `windowMs`. The
 * oldest is only partly inside, so the window is `windowMs` plus at most one bucket: the rates
 * are never judged on less than the window's events.
 */
export function windowBuckets(nowMs: number, windowMs: number, bucketMs: number): { from: number; to: number } {
  return { from: bucketStart(nowMs - windowMs + 1, bucketMs), to: bucketStart(nowMs, bucketMs) };
}

/** The shard an event's counter goes to: a hash of its message id, so one event always lands on the same item. */
export function shardOf(messageId: string, shards: number): number {
  if (shards <= 1) return 0;
  return createHash('sha1').update(messageId).digest().readUInt32BE(0) % shards;
}

export interface Verdict {
  bounceRate: number;
  complaintRate: number;
  /** The window holds enough sends to judge (REPUTATION_MIN_SENDS). */
  judged: boolean;
  /** The threshold crossed (the complaint rate first: SES weighs it more), undefined when none is. */
  over?: HoldReason;
}

/**
 * The rates of the window's totals and whether one is over its threshold. At the threshold is
 * over (SES reviews an account "at" 5 % and 0.1 %). Below the minimum volume nothing is judged,
 * so three mails and one bounce cannot hold a tenant.
 */
export function judge(totals: Totals, s: Pick<GuardSettings, 'minSends' | 'bounceRate' | 'complaintRate'>): Verdict {
  const rate = (n: number) => (totals.sends > 0 ? n / totals.sends : 0);
  const bounceRate = rate(totals.bounces);
  const complaintRate = rate(totals.complaints);
  const judged = totals.sends >= s.minSends;
  const over = !judged
    ? undefined
    : complaintRate >= s.complaintRate
      ? 'complaint_rate'
      : bounceRate >= s.bounceRate
        ? 'bounce_rate'
        : undefined;
  return { bounceRate, complaintRate, judged, ...(over ? { over } : {}) };
}

const percent = (r: number) => `${(Math.round(r * 100_000) / 1000).toString()} %`;

/** The held_reason written on each campaign the guard pauses. */
export function heldReason(reason: HoldReason, v: Verdict, s: Pick<GuardSettings, 'bounceRate' | 'complaintRate' | 'windowMs'>): string {
  const hours = Math.round((s.windowMs / 3_600_000) * 100) / 100;
  return reason === 'complaint_rate'
    ? `reputation guard: the tenant's complaint rate ${percent(v.complaintRate)} over ${hours} h is at or over ${percent(s.complaintRate)}`
    : `reputation guard: the tenant's hard bounce rate ${percent(v.bounceRate)} over ${hours} h is at or over ${percent(s.bounceRate)}`;
}

/** Held reasons the guard wrote start with this (so a resume clears only the guard's reason). */
export const GUARD_REASON_PREFIX = 'reputation guard:';

/** What an applied SES event adds to its tenant's counters (undefined: nothing). Hard bounces only. */
export function countOf(kind: string, bounceType?: string): CountKind | undefined {
  if (kind === 'send') return 'sends';
  if (kind === 'complaint') return 'complaints';
  if (kind === 'bounce' && bounceType === 'Permanent') return 'bounces';
  return undefined;
}
