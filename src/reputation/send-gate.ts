// The reputation hold at the point of sending (issue 16, item 4), in the worker.
//
// The guard in the API pauses the campaigns a check finds sending. A campaign can still start
// sending during a hold without one: a scheduled campaign whose send_at arrives, a batch whose
// chunk was already queued when the hold was taken. So the send activity asks this gate before
// each chunk: when the tenant's state item (read at most STATE_CACHE_MS ago by this process)
// says held, and the campaign was not resumed by an operator's override during this very hold,
// the chunk sends nothing (its messages are left untouched, reported deferred) and the campaign
// is paused here, with its held_reason and an audit entry, as the guard would. The pause is asked
// for at every chunk held back (chunks of one campaign at once share one request); only the one
// that paused it is audited. A pause refused (nothing left to pause) changes nothing.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { pauseUpdate, transactionWorkflowId, type ControlResult } from '../contracts';
import type { AuditInput } from '../adapters/dynamo/audit';
import type { ReputationState, ReputationTable } from '../adapters/dynamo/reputation';
import type { Transactions } from '../ports';
import type { Logger } from '../logging';
import { GUARD_REASON_PREFIX } from './rates';

/** On a campaign the operator resumed during a hold: `{ at, held_since }`; the sweeps of that hold leave it alone. */
export const OVERRIDE_FIELD = 'reputation_override';

/** How long a process trusts its last read of a tenant's state item (Send events, gates). */
export const STATE_CACHE_MS = 3000;

/**
 * A process's reads of tenants' state items: `cached` gives one read at most STATE_CACHE_MS ago
 * (else reads), `read` always reads (consistent) and keeps it. Bounded: past 10,000 tenants the
 * stale entries go.
 */
export class StateCache {
  private readonly states = new Map<string, { at: number; state: ReputationState | undefined }>();

  constructor(
    private readonly counters: Pick<ReputationTable, 'getState'>,
    private readonly now: () => number,
  ) {}

  async cached(tenantId: string): Promise<ReputationState | undefined> {
    const hit = this.states.get(tenantId);
    if (hit && this.now() - hit.at < STATE_CACHE_MS) return hit.state;
    return this.read(tenantId);
  }

  async read(tenantId: string): Promise<ReputationState | undefined> {
    const at = this.now();
    const state = await this.counters.getState(tenantId);
    if (this.states.size >= 10_000) {
      for (const [t, c] of this.states) if (at - c.at >= STATE_CACHE_MS) this.states.delete(t);
    }
    this.states.set(tenantId, { at, state });
    return state;
  }
}

export const GUARD_PRINCIPAL = { type: 'system', id: 'reputation-guard' } as const;

/** The campaign's override of the hold `state`, if an operator let it through this hold. */
export function overridesHold(txn: object | undefined, state: ReputationState): boolean {
  const override = (txn as { [OVERRIDE_FIELD]?: { held_since?: string } } | undefined)?.[OVERRIDE_FIELD];
  return override?.held_since !== undefined && override.held_since === state.held_since;
}

/** The held_reason a hold writes on the campaigns it pauses. */
export const holdReasonText = (state: ReputationState) => state.held_detail ?? `${GUARD_REASON_PREFIX} ${state.held_reason ?? 'held'}`;

export interface PauseForHoldDeps {
  store: Pick<Transactions, 'setTransactionFields'>;
  temporal: Pick<Client, 'workflow'>;
  audit: { record(input: AuditInput): Promise<void> };
  log: Pick<Logger, 'warn'>;
}

/** What a pause for a hold did: paused the campaign, found it paused already, or was refused. */
export type HoldPause = 'paused' | 'already_paused' | 'refused';

/**
 * Pauses one campaign of a held tenant: its held_reason first (the PAUSED status webhook and GET
 * /campaigns/{id} carry it), then the workflow's pause Update, then (only when this paused it)
 * the audit entry. Refused when the workflow would not pause (every message was handed over
 * meanwhile, or it ended): its reason is cleared again.
 */
export async function pauseForHold(
  deps: PauseForHoldDeps,
  tenantId: string,
  transactionId: string,
  state: ReputationState,
  by: string,
): Promise<HoldPause> {
  const reason = holdReasonText(state);
  let before: ControlResult;
  try {
    await deps.store.setTransactionFields(transactionId, { held_reason: reason });
    before = await deps.temporal.workflow.getHandle(transactionWorkflowId(transactionId)).executeUpdate(pauseUpdate);
  } catch (error) {
    const refused = error instanceof WorkflowUpdateFailedError || (error as { name?: string }).name === 'WorkflowNotFoundError';
    await deps.store.setTransactionFields(transactionId, { held_reason: null }).catch(() => undefined);
    if (!refused) throw error;
    return 'refused';
  }
  // The Update answers with the status it found: PAUSED means someone paused it before.
  if (before?.status === 'PAUSED') return 'already_paused';
  deps.log.warn('campaign paused by the reputation guard', {
    tenant_id: tenantId,
    transaction_id: transactionId,
    reason: state.held_reason,
    by,
  });
  await deps.audit.record({
    tenant_id: tenantId,
    principal: GUARD_PRINCIPAL,
    action: 'campaigns.pause',
    target: transactionId,
    outcome: 202,
    details: { reason: state.held_reason, held_reason: reason, paused_by: by, ...(state.held_rates ?? {}) },
  });
  return 'paused';
}

export interface SendGate {
  /**
   * Undefined when the campaign may send now; otherwise why not (its held_reason), and the
   * campaign's pause has been asked for.
   */
  heldBack(tenantId: string, transactionId: string): Promise<string | undefined>;
}

export interface SendGateDeps extends PauseForHoldDeps {
  counters: Pick<ReputationTable, 'getState'>;
  store: Pick<Transactions, 'setTransactionFields' | 'getTransaction'>;
  now?: () => number;
}

/** The worker's gate (REPUTATION_GUARD=hold); see the head of this file. */
export function reputationSendGate(deps: SendGateDeps): SendGate {
  const states = new StateCache(deps.counters, () => deps.now?.() ?? Date.now());
  /** The pauses this process is asking for now, by campaign (chunks of one campaign share one). */
  const pausing = new Map<string, Promise<void>>();

  return {
    async heldBack(tenantId, transactionId) {
      const state = await states.cached(tenantId);
      if (!state?.held_since) return undefined;
      // Read each time while held (rare): an operator's resume with override can come at any moment.
      if (overridesHold(await deps.store.getTransaction(tenantId, transactionId), state)) return undefined;
      // Asked at every chunk held back (the Update accepts a paused campaign; only a real pause is
      // audited): a campaign resumed without an override slips through no gap.
      let asked = pausing.get(transactionId);
      if (!asked) {
        asked = pauseForHold(deps, tenantId, transactionId, state, 'send-gate').then(
          () => undefined,
          (error: unknown) =>
            deps.log.warn('campaign of a held tenant not paused', { transaction_id: transactionId, error: (error as Error).message }),
        );
        pausing.set(transactionId, asked);
        void asked.finally(() => pausing.delete(transactionId));
      }
      await asked;
      return holdReasonText(state);
    },
  };
}
