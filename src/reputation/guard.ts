// The reputation guard (issue 16, item 4), in the API process that applies SES events.
//
// Counting: every SES event the processor *applied* (never a duplicate) of kind Send, hard
// (Permanent) Bounce or Complaint adds one to its tenant's counter for the current time bucket,
// on the shard its message id hashes to (src/adapters/dynamo/reputation.ts).
//
// Checking: an applied bounce or complaint asks for a check of its tenant, run once per
// REPUTATION_CHECK_DEBOUNCE_MS however many events ask (a Send event asks too while the tenant is
// held by the stored state, so a campaign that starts sending during a hold is paused as well,
// whichever API process applies its events). A check sums the
// window, sets the rate gauges and, in `hold` mode, when a rate is at or over its threshold with
// enough sends to judge: takes the tenant's hold (once, across processes), then pauses each of
// its READY_TO_SEND campaigns through the workflow's pause Update (the same as POST
// /campaigns/{id}/pause: the workflow moves to PAUSED, which sends the PAUSED status webhook),
// writes `held_reason` on it and an audit entry (principal system:reputation-guard). When a held
// tenant's rates are judged again (at least REPUTATION_MIN_SENDS sends in the window) and are under
// the thresholds, a check lifts the hold (audited): its campaigns stay PAUSED until someone resumes
// them. A window that merely empties (the paused campaigns send nothing) is no evidence: the hold
// stays.
//
// The held state is the state item in DynamoDB, for every API process alike: a Send event asks for a
// check when the stored state says held, and the gates (isHeld) read it, each through a cache of
// STATE_CACHE_MS. GET /tenant/reputation (reputation()) only reads: it takes no hold and pauses
// nothing.
import type { Client } from '@temporalio/client';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditInput } from '../adapters/dynamo/audit';
import type { ReputationState, ReputationTable } from '../adapters/dynamo/reputation';
import type { CampaignIndex, Transactions } from '../ports';
import type { Logger } from '../logging';
import {
  bucketStart,
  countOf,
  heldReason,
  judge,
  shardOf,
  windowBuckets,
  type CountKind,
  type GuardSettings,
  type HoldReason,
  type Totals,
  type Verdict,
} from './rates';
import { GUARD_PRINCIPAL, overridesHold, pauseForHold, StateCache } from './send-gate';
import { Sums } from '../sums';

export { GUARD_PRINCIPAL, OVERRIDE_FIELD, STATE_CACHE_MS } from './send-gate';

export type ReputationCounters = Pick<ReputationTable, 'increment' | 'totals' | 'getState' | 'hold' | 'release'>;

export interface GuardDeps {
  counters: ReputationCounters;
  campaigns: CampaignIndex;
  store: Pick<Transactions, 'setTransactionFields'>;
  temporal: Pick<Client, 'workflow'>;
  audit: { record(input: AuditInput): Promise<void> };
  registry: Registry;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  now?: () => number;
}

/** A tenant's reputation as GET /tenant/reputation shows it. */
export interface ReputationView {
  tenant_id: string;
  mode: GuardSettings['mode'];
  window_seconds: number;
  window: { from: string; to: string };
  sends: number;
  hard_bounces: number;
  complaints: number;
  bounce_rate: number;
  complaint_rate: number;
  judged: boolean;
  thresholds: { bounce_rate: number; complaint_rate: number; min_sends: number };
  over_threshold: HoldReason | null;
  held: boolean;
  held_since: string | null;
  held_reason: string | null;
  released_at: string | null;
}

export interface AppliedEvent {
  tenantId: string;
  kind: string;
  messageId: string;
  bounceType?: string;
}

/** Why a check lifted a hold (in its audit entry and log). */
export const RELEASE_REASON = 'judged_under_thresholds';

/** Campaigns read per sweep at most (the tenant index, newest first; sending ones are recent). */
const SWEEP_BUDGET = { queries: 10, items: 5000 };

export class ReputationGuard {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly scheduled = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<ReputationView>>();
  /** The last read of each tenant's state item, for STATE_CACHE_MS. */
  private readonly states: StateCache;
  private readonly holds: Counter<'tenant' | 'reason'>;
  private readonly bounceRate: Gauge<'tenant'>;
  private readonly complaintRate: Gauge<'tenant'>;
  private closed = false;
  /** The counters' increments, in sums (countInSums). */
  private readonly sums: Sums<{ tenantId: string; kind: CountKind; messageId: string; start: number }>;

  constructor(
    private readonly deps: GuardDeps,
    readonly settings: GuardSettings,
  ) {
    this.states = new StateCache(deps.counters, () => this.now());
    this.sums = new Sums(settings.countFlushMs ?? 0, ({ tenantId, kind, messageId, start }, n) =>
      this.writeCount(tenantId, kind, messageId, start, n),
    );
    const registers = [deps.registry];
    this.holds = new Counter({
      name: 'email_engine_reputation_holds_total',
      help: 'Tenants the reputation guard held (their sending campaigns paused), by the rate that crossed its threshold',
      labelNames: ['tenant', 'reason'],
      registers,
    });
    this.bounceRate = new Gauge({
      name: 'email_engine_tenant_bounce_rate',
      help: "A tenant's hard bounces per send over the reputation window, at its last check",
      labelNames: ['tenant'],
      registers,
    });
    this.complaintRate = new Gauge({
      name: 'email_engine_tenant_complaint_rate',
      help: "A tenant's complaints per send over the reputation window, at its last check",
      labelNames: ['tenant'],
      registers,
    });
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const tracked = work.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
    return tracked;
  }

  /**
   * An event the processor applied (call it for `applied` only): counted, and a check asked for
   * when it is a bounce or a complaint. Never throws: a lost count is logged.
   */
  noteApplied(event: AppliedEvent): Promise<void> {
    if (this.settings.mode === 'off' || this.closed) return Promise.resolve();
    const kind = countOf(event.kind, event.bounceType);
    if (!kind) return Promise.resolve();
    return this.track(
      this.countInSums(event.tenantId, kind, event.messageId).then(
        async () => {
          if (kind !== 'sends') return this.requestCheck(event.tenantId);
          // A Send of a held tenant (held by any process): a campaign started or resumed meanwhile.
          if (this.settings.mode !== 'hold') return;
          try {
            if ((await this.storedState(event.tenantId))?.held_since) this.requestCheck(event.tenantId);
          } catch (error) {
            this.deps.log.error('reputation state not read', { tenant_id: event.tenantId, error: (error as Error).message });
          }
        },
        (error: unknown) =>
          this.deps.log.error('reputation counter not updated', { tenant_id: event.tenantId, kind, error: (error as Error).message }),
      ),
    );
  }

  /** The tenant's state item, as read at most STATE_CACHE_MS ago (by this process). */
  storedState(tenantId: string): Promise<ReputationState | undefined> {
    return this.states.cached(tenantId);
  }

  /** Reads the tenant's state item (consistent read) and caches it. */
  private readState(tenantId: string): Promise<ReputationState | undefined> {
    return this.states.read(tenantId);
  }

  /**
   * Adds one to the tenant's counter of `kind` within a sum (src/sums.ts): what this process
   * counts for a counter within `countFlushMs` is one write, to the shard of the sum's first
   * message. Resolves once that sum is written. A sum lost with its process leaves the rates a
   * little off for the window (never a count twice).
   */
  private countInSums(tenantId: string, kind: CountKind, messageId: string): Promise<void> {
    const start = bucketStart(this.now(), this.settings.bucketMs);
    return this.sums.add(`${tenantId}|${kind}|${start}`, { tenantId, kind, messageId, start });
  }

  private writeCount(tenantId: string, kind: CountKind, messageId: string, start: number, n: number): Promise<void> {
    const { bucketMs, windowMs, shards } = this.settings;
    // Kept a day past the window (and a bucket), then DynamoDB's TTL removes it.
    return this.deps.counters.increment(tenantId, kind, shardOf(messageId, shards), start, windowMs + bucketMs + 86_400_000, n);
  }

  /** Adds one to the tenant's counter of `kind` (exposed for tests). */
  count(tenantId: string, kind: CountKind, messageId: string): Promise<void> {
    return this.writeCount(tenantId, kind, messageId, bucketStart(this.now(), this.settings.bucketMs), 1);
  }

  /** Schedules a check of the tenant (one per debounce interval, however many ask). */
  requestCheck(tenantId: string): void {
    if (this.closed || this.scheduled.has(tenantId)) return;
    const timer = setTimeout(() => {
      this.scheduled.delete(tenantId);
      void this.track(this.check(tenantId)).catch((error: unknown) =>
        this.deps.log.error('reputation check failed', { tenant_id: tenantId, error: (error as Error).message }),
      );
    }, this.settings.debounceMs);
    timer.unref();
    this.scheduled.set(tenantId, timer);
  }

  /** The window's totals and the verdict on them. */
  async evaluate(tenantId: string): Promise<{ totals: Totals; verdict: Verdict; from: number; to: number }> {
    const { windowMs, bucketMs, shards } = this.settings;
    const { from, to } = windowBuckets(this.now(), windowMs, bucketMs);
    const totals = await this.deps.counters.totals(tenantId, shards, from, to);
    const verdict = judge(totals, this.settings);
    this.bounceRate.set({ tenant: tenantId }, verdict.bounceRate);
    this.complaintRate.set({ tenant: tenantId }, verdict.complaintRate);
    return { totals, verdict, from, to };
  }

  /** One check of a tenant (at most one at a time per tenant in this process); its view after. */
  check(tenantId: string): Promise<ReputationView> {
    const running = this.running.get(tenantId);
    if (running) return running;
    const work = this.checkNow(tenantId).finally(() => this.running.delete(tenantId));
    this.running.set(tenantId, work);
    return work;
  }

  private async checkNow(tenantId: string): Promise<ReputationView> {
    const { totals, verdict, from, to } = await this.evaluate(tenantId);
    let state = await this.readState(tenantId);
    if (this.settings.mode === 'hold') {
      if (verdict.over && !state?.held_since) {
        const detail = heldReason(verdict.over, verdict, this.settings);
        const since = new Date(this.now()).toISOString();
        const rates = { bounce_rate: verdict.bounceRate, complaint_rate: verdict.complaintRate, sends: totals.sends };
        if (
          await this.deps.counters.hold(tenantId, { held_since: since, held_reason: verdict.over, held_detail: detail, held_rates: rates })
        ) {
          this.holds.inc({ tenant: tenantId, reason: verdict.over });
          this.deps.log.warn('tenant held by the reputation guard', { tenant_id: tenantId, reason: verdict.over, ...rates });
          await this.deps.audit.record({
            tenant_id: tenantId,
            principal: GUARD_PRINCIPAL,
            action: 'reputation.hold',
            target: tenantId,
            outcome: 200,
            details: { reason: verdict.over, ...rates, ...totals },
          });
        }
        state = await this.readState(tenantId);
      } else if (verdict.judged && !verdict.over && state?.held_since) {
        // Only on evidence: enough sends in the window to judge, and the rates under the thresholds.
        if (await this.deps.counters.release(tenantId, state.held_since, new Date(this.now()).toISOString())) {
          this.deps.log.info('reputation hold lifted: judged again, the rates are under the thresholds', {
            tenant_id: tenantId,
            reason: RELEASE_REASON,
            ...totals,
          });
          await this.deps.audit.record({
            tenant_id: tenantId,
            principal: GUARD_PRINCIPAL,
            action: 'reputation.release',
            target: tenantId,
            outcome: 200,
            details: {
              reason: RELEASE_REASON,
              held_since: state.held_since,
              bounce_rate: verdict.bounceRate,
              complaint_rate: verdict.complaintRate,
              min_sends: this.settings.minSends,
              ...totals,
            },
          });
        }
        state = await this.readState(tenantId);
      }
      if (state?.held_since) await this.pauseSending(tenantId, state);
    }
    return this.view(tenantId, totals, verdict, state, from, to);
  }

  /** Pauses every READY_TO_SEND campaign of a held tenant; returns how many it paused. */
  async pauseSending(tenantId: string, state: ReputationState): Promise<number> {
    let paused = 0;
    let cursor: Parameters<CampaignIndex['listCampaigns']>[1]['cursor'];
    for (let page = 0; page < SWEEP_BUDGET.queries; page++) {
      const found = await this.deps.campaigns.listCampaigns(tenantId, {
        status: 'READY_TO_SEND',
        limit: 100,
        cursor,
        budget: SWEEP_BUDGET,
      });
      for (const txn of found.items) {
        if (overridesHold(txn, state)) continue;
        if ((await pauseForHold(this.deps, tenantId, txn.transaction_id, state, 'guard-check')) === 'paused') paused++;
      }
      cursor = found.cursor;
      if (!cursor) break;
    }
    return paused;
  }

  /**
   * The tenant's state for GET /tenant/reputation: the stored state and the current rates. Read
   * only: it takes no hold, lifts none and pauses nothing (the checks the events ask for do).
   */
  async reputation(tenantId: string): Promise<ReputationView> {
    if (this.settings.mode === 'off') {
      return this.view(
        tenantId,
        { sends: 0, bounces: 0, complaints: 0 },
        judge({ sends: 0, bounces: 0, complaints: 0 }, this.settings),
        undefined,
        0,
        0,
      );
    }
    const [{ totals, verdict, from, to }, state] = await Promise.all([this.evaluate(tenantId), this.readState(tenantId)]);
    return this.view(tenantId, totals, verdict, state, from, to);
  }

  /**
   * Whether the tenant is held, by its stored state (read at most STATE_CACHE_MS ago): what the
   * campaign gates ask. When held and the rates are judged under the thresholds now, a check lifts
   * the hold first (the request then goes through); otherwise no sweep runs here.
   */
  async isHeld(tenantId: string): Promise<ReputationView | undefined> {
    if (this.settings.mode !== 'hold') return undefined;
    const state = await this.storedState(tenantId);
    if (!state?.held_since) return undefined;
    const { totals, verdict, from, to } = await this.evaluate(tenantId);
    if (verdict.judged && !verdict.over) {
      const view = await this.check(tenantId);
      return view.held ? view : undefined;
    }
    return this.view(tenantId, totals, verdict, state, from, to);
  }

  private view(
    tenantId: string,
    totals: Totals,
    verdict: Verdict,
    state: ReputationState | undefined,
    from: number,
    to: number,
  ): ReputationView {
    const s = this.settings;
    return {
      tenant_id: tenantId,
      mode: s.mode,
      window_seconds: s.windowMs / 1000,
      window: { from: new Date(from).toISOString(), to: new Date(to + s.bucketMs).toISOString() },
      sends: totals.sends,
      hard_bounces: totals.bounces,
      complaints: totals.complaints,
      bounce_rate: verdict.bounceRate,
      complaint_rate: verdict.complaintRate,
      judged: verdict.judged,
      thresholds: { bounce_rate: s.bounceRate, complaint_rate: s.complaintRate, min_sends: s.minSends },
      over_threshold: verdict.over ?? null,
      held: state?.held_since !== undefined,
      held_since: state?.held_since ?? null,
      held_reason: state?.held_detail ?? null,
      released_at: state?.released_at ?? null,
    };
  }

  /** Stops scheduling checks and waits for the counts and checks under way. */
  async close(): Promise<void> {
    this.closed = true;
    await this.sums.close();
    for (const timer of this.scheduled.values()) clearTimeout(timer);
    this.scheduled.clear();
    await Promise.allSettled([...this.pending]);
  }
}
