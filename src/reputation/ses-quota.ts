// The SES account's sending quota (issue 16, item 4), in the worker: SESv2 GetAccount →
// SendQuota (Max24HourSend, MaxSendRate, SentLast24Hours), read at worker start and every
// SES_QUOTA_POLL_SECONDS, exported as the gauges email_engine_ses_max_24h_send,
// email_engine_ses_sent_last_24h and email_engine_ses_max_send_rate.
//
// The platform send rate (the send task queue's server-side limit, set when the worker starts)
// is the least of SEND_RATE_PER_SECOND and MaxSendRate. A later change of MaxSendRate shows in the
// gauge and is logged; it applies at the next worker start.
//
// Before the 24-hour quota would be crossed (what was sent plus one poll interval at the send
// rate reaches Max24HourSend), every sending campaign is paused with a held_reason and an audit
// entry (system:ses-quota-guard); they resume only by an explicit resume.
//
// On the local stack the emulator answers GetAccount from a fixed document (1,000,000 a day, the
// configured rate, nothing sent): SES_MAX_24H_SEND and SES_MAX_SEND_RATE stand in for the limits
// and, with SES_MAX_24H_SEND set, SentLast24Hours is what the emulator received in the last 24
// hours (its /store). Against
// AWS the two settings, when set, can only lower the account's figures.
import { GetAccountCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { Gauge, Registry } from 'prom-client';
import type { Config } from '../config';
import type { Logger } from '../logging';
import type { AuditLog, Transactions } from '../ports';
import { appendAudit } from '../adapters/dynamo/audit';
import { pauseUpdate, SEARCH_ATTRIBUTES, transactionWorkflowId } from '../contracts';

export interface SesQuota {
  max24HourSend: number;
  maxSendRate: number;
  sentLast24Hours: number;
}

type QuotaConfig = Pick<Config, 'AWS_ENDPOINT_MODE' | 'SES_ENDPOINT' | 'SES_MAX_24H_SEND' | 'SES_MAX_SEND_RATE' | 'SEND_RATE_PER_SECOND'>;

const DAY_MS = 86_400_000;

/** Messages the local emulator received in the 24 hours before `nowMs` (its /store lists them with their time). */
export async function emulatorSentLast24Hours(sesEndpoint: string, nowMs = Date.now()): Promise<number> {
  const res = await fetch(`${sesEndpoint.replace(/\/$/, '')}/store`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`the SES emulator's /store answered HTTP ${res.status}`);
  const { emails = [] } = (await res.json()) as { emails?: { at?: number }[] };
  // `at` is in seconds since the epoch.
  return emails.filter((e) => typeof e.at !== 'number' || e.at * 1000 > nowMs - DAY_MS).length;
}

/**
 * The limits that apply: the account's, lowered by the settings (AWS). On the local stack the
 * settings replace the emulator's document, whose MaxSendRate only mirrors the rate the launcher
 * started with (so locally the rate follows SES_MAX_SEND_RATE alone, else SEND_RATE_PER_SECOND).
 */
export function effectiveQuota(account: SesQuota, config: QuotaConfig): SesQuota {
  if (config.AWS_ENDPOINT_MODE === 'aws') {
    const lower = (accountValue: number, configured: number | undefined) =>
      configured === undefined ? accountValue : Math.min(accountValue, configured);
    return {
      max24HourSend: lower(account.max24HourSend, config.SES_MAX_24H_SEND),
      maxSendRate: lower(account.maxSendRate, config.SES_MAX_SEND_RATE),
      sentLast24Hours: account.sentLast24Hours,
    };
  }
  return {
    max24HourSend: config.SES_MAX_24H_SEND ?? account.max24HourSend,
    maxSendRate: config.SES_MAX_SEND_RATE ?? config.SEND_RATE_PER_SECOND,
    sentLast24Hours: account.sentLast24Hours,
  };
}

/** The platform's send rate: SEND_RATE_PER_SECOND unless MaxSendRate is lower. */
export const platformSendRate = (config: Pick<Config, 'SEND_RATE_PER_SECOND'>, quota: SesQuota | undefined) =>
  quota && quota.maxSendRate > 0 ? Math.min(config.SEND_RATE_PER_SECOND, quota.maxSendRate) : config.SEND_RATE_PER_SECOND;

export async function readSesQuota(ses: SESv2Client, config: QuotaConfig): Promise<SesQuota> {
  const { SendQuota: q } = await ses.send(new GetAccountCommand({}));
  const account: SesQuota = {
    max24HourSend: q?.Max24HourSend ?? Number.POSITIVE_INFINITY,
    maxSendRate: q?.MaxSendRate ?? Number.POSITIVE_INFINITY,
    sentLast24Hours: q?.SentLast24Hours ?? 0,
  };
  // Locally with a daily limit configured: what the emulator received (its /store, read whole, so only then).
  if (config.AWS_ENDPOINT_MODE !== 'aws' && config.SES_ENDPOINT && config.SES_MAX_24H_SEND !== undefined) {
    account.sentLast24Hours = await emulatorSentLast24Hours(config.SES_ENDPOINT);
  }
  return effectiveQuota(account, config);
}

/** Reads the quota now and every `intervalMs`, keeping the gauges current; `latest` is the last reading. */
export class SesQuotaMonitor {
  latest: SesQuota | undefined;
  /** Called after each reading (the worker holds campaigns there when the 24-hour quota is near). */
  onReading?: (quota: SesQuota) => Promise<void>;
  private timer: NodeJS.Timeout | undefined;
  private readonly max24h: Gauge;
  private readonly sent24h: Gauge;
  private readonly maxRate: Gauge;

  constructor(
    private readonly ses: SESv2Client,
    private readonly config: QuotaConfig,
    private readonly log: Pick<Logger, 'warn' | 'error'>,
    registry: Registry = new Registry(),
  ) {
    const registers = [registry];
    this.max24h = new Gauge({
      name: 'email_engine_ses_max_24h_send',
      help: 'SES SendQuota.Max24HourSend (messages in 24 hours)',
      registers,
    });
    this.sent24h = new Gauge({ name: 'email_engine_ses_sent_last_24h', help: 'SES SendQuota.SentLast24Hours (messages)', registers });
    this.maxRate = new Gauge({
      name: 'email_engine_ses_max_send_rate',
      help: 'SES SendQuota.MaxSendRate (messages per second)',
      registers,
    });
  }

  /** One reading; undefined (logged) when SES cannot say. */
  async refresh(): Promise<SesQuota | undefined> {
    try {
      const quota = await readSesQuota(this.ses, this.config);
      const before = this.latest;
      this.latest = quota;
      if (Number.isFinite(quota.max24HourSend)) this.max24h.set(quota.max24HourSend);
      if (Number.isFinite(quota.maxSendRate)) this.maxRate.set(quota.maxSendRate);
      this.sent24h.set(quota.sentLast24Hours);
      await this.onReading?.(quota).catch((error: unknown) =>
        this.log.error('SES quota reading not acted on', { error: (error as Error).message }),
      );
      if (before && before.maxSendRate !== quota.maxSendRate) {
        this.log.warn('SES MaxSendRate changed: the send rate follows it at the next worker start', {
          from: before.maxSendRate,
          to: quota.maxSendRate,
        });
      }
      return quota;
    } catch (error) {
      this.log.error('SES account quota not read', { error: (error as Error).message });
      return undefined;
    }
  }

  /** The reading at worker start: tried `attempts` times, a second and then two apart, before the worker goes on without. */
  async refreshAtStart(attempts = 3): Promise<SesQuota | undefined> {
    for (let attempt = 1; ; attempt++) {
      const quota = await this.refresh();
      if (quota || attempt >= attempts) {
        if (!quota) this.log.error('SES account quota unknown at start: the send rate is SEND_RATE_PER_SECOND', { attempts });
        return quota;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * attempt));
    }
  }

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * Whether sending must hold now so the account's 24-hour quota is not crossed: what was sent,
 * plus the most the platform could send before the next reading (the send rate for one poll
 * interval), reaches Max24HourSend.
 */
export function quotaWouldBeCrossed(quota: SesQuota, sendRate: number, pollMs: number): boolean {
  if (!Number.isFinite(quota.max24HourSend) || quota.max24HourSend <= 0) return false;
  return quota.sentLast24Hours + sendRate * (pollMs / 1000) >= quota.max24HourSend;
}

export const quotaHeldReason = (quota: SesQuota) =>
  `SES 24-hour quota: ${quota.sentLast24Hours} of ${quota.max24HourSend} sent in the last 24 hours; resume once the quota allows`;

export interface QuotaHoldDeps {
  /** Running campaigns sending now (READY_TO_SEND), across tenants: their transaction ids and tenants. */
  sending(): Promise<{ transactionId: string; tenantId: string }[]>;
  pause(transactionId: string): Promise<boolean>;
  setHeldReason(transactionId: string, reason: string | null): Promise<void>;
  audit(entry: { tenantId: string; transactionId: string; reason: string; quota: SesQuota }): Promise<void>;
  log: Pick<Logger, 'warn' | 'error'>;
  /**
   * This worker's turn for the current poll interval (one worker of many acts on a reading; the
   * others skip it): absent, every reading is acted on.
   */
  claim?(): Promise<boolean>;
}

/**
 * Pauses every sending campaign (each with held_reason and an audit entry by
 * system:ses-quota-guard) when the quota would be crossed before the next reading. Campaigns so
 * held resume only by an explicit resume. Returns how many it paused.
 */
export async function holdForQuota(deps: QuotaHoldDeps, quota: SesQuota): Promise<number> {
  const sending = await deps.sending();
  // Claimed only once there is something to hold (a failed listing leaves the interval to another worker).
  if (sending.length === 0 || (deps.claim && !(await deps.claim()))) return 0;
  const reason = quotaHeldReason(quota);
  let paused = 0;
  for (const { transactionId, tenantId } of sending) {
    try {
      await deps.setHeldReason(transactionId, reason);
      if (await deps.pause(transactionId)) {
        paused++;
        await deps.audit({ tenantId, transactionId, reason, quota });
      } else await deps.setHeldReason(transactionId, null);
    } catch (error) {
      deps.log.error('campaign not held for the SES quota', { transaction_id: transactionId, error: (error as Error).message });
    }
  }
  if (paused > 0) deps.log.warn('campaigns held: the SES 24-hour quota would be crossed', { paused, ...quota });
  return paused;
}

/** The hold's dependencies on Temporal (visibility: TransactionStatus, TenantId), the store and the audit log. */
export function temporalQuotaHoldDeps(
  client: Pick<Client, 'workflow'>,
  store: Pick<Transactions, 'setTransactionFields'>,
  auditLog: Pick<AuditLog, 'appendAuditEntry'>,
  log: Pick<Logger, 'warn' | 'error'>,
): QuotaHoldDeps {
  return {
    async sending() {
      const out: { transactionId: string; tenantId: string }[] = [];
      const query = `ExecutionStatus = 'Running' AND ${SEARCH_ATTRIBUTES.transactionStatus} = 'READY_TO_SEND'`;
      for await (const wf of client.workflow.list({ query, pageSize: 500 })) {
        const transactionId = wf.searchAttributes?.[SEARCH_ATTRIBUTES.transactionId]?.[0];
        const tenantId = wf.searchAttributes?.[SEARCH_ATTRIBUTES.tenantId]?.[0];
        if (typeof transactionId === 'string' && typeof tenantId === 'string') out.push({ transactionId, tenantId });
      }
      return out;
    },
    async pause(transactionId) {
      try {
        await client.workflow.getHandle(transactionWorkflowId(transactionId)).executeUpdate(pauseUpdate);
        return true;
      } catch (error) {
        if (error instanceof WorkflowUpdateFailedError || (error as { name?: string }).name === 'WorkflowNotFoundError') return false;
        throw error;
      }
    },
    setHeldReason: (transactionId, reason) => store.setTransactionFields(transactionId, { held_reason: reason }),
    async audit({ tenantId, transactionId, reason, quota }) {
      await appendAudit(auditLog, {
        tenant_id: tenantId,
        principal: { type: 'system', id: 'ses-quota-guard' },
        action: 'campaigns.pause',
        target: transactionId,
        outcome: 202,
        details: { reason: 'ses_24h_quota', held_reason: reason, max_24h_send: quota.max24HourSend, sent_last_24h: quota.sentLast24Hours },
      });
    },
    log,
  };
}
