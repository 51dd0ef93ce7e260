// The reputation hold at the point of sending (issue 16, item 4), in the worker.
//
// The guard in the API pauses the campaigns a check finds sending. A campaign can still start
// sending during a hold without one: a scheduled campaign whose send_at arrives, a batch whose
// chunk was already queued when the hold was taken. So the send activity asks this gate before
// each chunk: when the tenant's state item (read at most STATE_CACHE_MS ago by this process)
// says held, and the campaign was not resumed by an operator's override during this very hold,
// the chunk sends nothing (its messages are left untouched, reported deferred) and the campaign
// is paused here, with its held_reason and an audit entry, as the guard would. A worker pauses a
// campaign at most once per hold; a pause refused (nothing left to pause) changes nothing.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { pauseUpdate, transactionWorkflowId } from '../contracts';
import type { AuditInput } from '../adapters/dynamo/audit';
import type { ReputationState, ReputationTable } from '../adapters/dynamo/reputation';
import type { Transactions } from '../ports';
import type { Logger } from '../logging';
import { GUARD_REASON_PREFIX } from './rates';

/** On a campaign the operator resumed during a hold: `{ at, held_since }`; the sweeps of that hold leave it alone. */
export const OVERRIDE_FIELD = 'reputation_override';

/** How long a process trusts its last read of a tenant's state item (Send events, gates). */
export const STATE_CACHE_MS = 3000;

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

/**
 * Pauses one campaign of a held tenant: its held_reason first (the PAUSED status webhook and GET
 * /campaigns/{id} carry it), then the workflow's pause Update, then the audit entry. False when
 * the workflow refused (every message was handed over meanwhile, or it ended): its reason is
 * cleared again, nothing is held back.
 */
export async function pauseForHold(
  deps: PauseForHoldDeps,
  tenantId: string,
  transactionId: string,
  state: ReputationState,
  by: string,
): Promise<boolean> {
  const reason = holdReasonText(state);
  try {
    await deps.store.setTransactionFields(transactionId, { held_reason: reason });
    await deps.temporal.workflow.getHandle(transactionWorkflowId(transactionId)).executeUpdate(pauseUpdate);
  } catch (error) {
    const refused = error instanceof WorkflowUpdateFailedError || (error as { name?: string }).name === 'WorkflowNotFoundError';
    await deps.store.setTransactionFields(transactionId, { held_reason: null }).catch(() => undefined);
    if (!refused) throw error;
    return false;
  }
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
  return true;
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
  const now = () => deps.now?.() ?? Date.now();
  const states = new Map<string, { at: number; state: ReputationState | undefined }>();
  /** `<transaction>|<held_since>` of the pauses this process asked for (one per campaign and hold). */
  const paused = new Map<string, Promise<void>>();

  async function stateOf(tenantId: string): Promise<ReputationState | undefined> {
    const cached = states.get(tenantId);
    if (cached && now() - cached.at < STATE_CACHE_MS) return cached.state;
    const at = now();
    const state = await deps.counters.getState(tenantId);
    if (states.size >= 10_000) states.clear();
    states.set(tenantId, { at, state });
    return state;
  }

  return {
    async heldBack(tenantId, transactionId) {
      const state = await stateOf(tenantId);
      if (!state?.held_since) return undefined;
      // Read each time while held (rare): an operator's resume with override can come at any moment.
      if (overridesHold(await deps.store.getTransaction(tenantId, transactionId), state)) return undefined;
      const key = `${transactionId}|${state.held_since}`;
      if (!paused.has(key)) {
        if (paused.size >= 10_000) paused.clear();
        const pausing = pauseForHold(deps, tenantId, transactionId, state, 'send-gate').then(
          () => undefined,
          (error: unknown) => {
            // Asked again at the next chunk: nothing was sent meanwhile.
            paused.delete(key);
            deps.log.warn('campaign of a held tenant not paused', { transaction_id: transactionId, error: (error as Error).message });
          },
        );
        paused.set(key, pausing);
      }
      await paused.get(key);
      return holdReasonText(state);
    },
  };
}
