// Campaign priority and tenant fairness on Temporal (issue 17, item 3): a campaign's priority
// (high, normal, low) is a Temporal priority key, and its tenant is the fairness key on the shared
// send queue, weighted as the operator set. Its batches and activities inherit both.
import { createHash } from 'node:crypto';
import type { Priority } from '@temporalio/common';

/** A tenant's fairness key: its id, or for an id over Temporal's 64 bytes a hash of it. */
export function fairnessKeyOf(tenantId: string): string {
  if (Buffer.byteLength(tenantId) <= 64) return tenantId;
  return `sha256:${createHash('sha256').update(tenantId).digest('hex').slice(0, 56)}`;
}

/** `TENANT_FAIRNESS_WEIGHTS` ("tenant-a=2,tenant-b=0.5") as weights by tenant; throws on a bad entry. */
export function parseFairnessWeights(value: string): Record<string, number> {
  const weights: Record<string, number> = {};
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([^=\s]{1,64})=(\d+(?:\.\d+)?)$/.exec(part);
    if (!m || Number(m[2]) <= 0 || Number(m[2]) > 1000) throw new Error(`"${part}" is not tenant=weight (a weight above 0, at most 1000)`);
    weights[m[1]!] = Number(m[2]);
  }
  return weights;
}

/** Temporal priority keys of the campaign priorities: lower runs first (the server's default range 1–5, 3 by default). */
export const PRIORITY_KEYS = { high: 1, normal: 3, low: 5 } as const;

/**
 * The campaign's Temporal priority (issue 17, item 3): its key, and fairness keyed by tenant so
 * one tenant's backlog on the shared send queue cannot starve another's, weighted as the
 * operator set (TENANT_FAIRNESS_WEIGHTS; 1 otherwise).
 */
export function campaignPriority(
  txn: { tenant_id: string; priority?: 'high' | 'normal' | 'low' },
  weights: Record<string, number>,
): Priority {
  return {
    priorityKey: PRIORITY_KEYS[txn.priority ?? 'normal'],
    fairnessKey: fairnessKeyOf(txn.tenant_id),
    fairnessWeight: weights[txn.tenant_id] ?? 1,
  };
}
