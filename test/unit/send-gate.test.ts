// The reputation hold at the point of sending (src/reputation/send-gate.ts): which chunks it holds
// back, and that it asks for each campaign's pause once per hold. The state item, the campaign
// record and the workflow's pause are stand-ins here; the e2e (test/e2e/reputation.e2e.test.ts)
// runs it on the real stack.
import { describe, expect, it } from 'vitest';
import { reputationSendGate, STATE_CACHE_MS } from '../../src/reputation/send-gate';
import type { ReputationState } from '../../src/adapters/dynamo/reputation';

function setup(initial: ReputationState | undefined, txn: Record<string, unknown> = {}) {
  let state = initial;
  let now = 1_000_000;
  const calls = { getState: 0, getTransaction: 0, pauses: [] as string[], audits: 0, fields: [] as unknown[] };
  let refuse = false;
  /** Campaigns resumed (without an override) since their last pause. */
  const resumed = new Set<string>();
  const gate = reputationSendGate({
    counters: {
      getState: async () => {
        calls.getState++;
        return state;
      },
    },
    store: {
      getTransaction: async () => {
        calls.getTransaction++;
        return txn as never;
      },
      setTransactionFields: async (_id, fields) => void calls.fields.push(fields),
    },
    temporal: {
      workflow: {
        getHandle: (id: string) => ({
          // The pause Update answers with the status it found (PAUSED once a pause took effect).
          executeUpdate: async () => {
            if (refuse) throw Object.assign(new Error('refused'), { name: 'WorkflowNotFoundError' });
            const status = calls.pauses.includes(id) && !resumed.has(id) ? 'PAUSED' : 'READY_TO_SEND';
            calls.pauses.push(id);
            resumed.delete(id);
            return { status };
          },
        }),
      },
    } as never,
    audit: { record: async () => void calls.audits++ },
    log: { warn() {} },
    now: () => now,
  });
  return {
    gate,
    calls,
    setState: (s: ReputationState | undefined) => (state = s),
    advance: (ms: number) => (now += ms),
    refuse: () => (refuse = true),
    resume: (id: string) => resumed.add(id),
  };
}

const held: ReputationState = {
  tenant_id: 't',
  held_since: '2026-12-02T10:00:00.000Z',
  held_reason: 'complaint_rate',
  held_detail: 'reputation guard: complaints',
  updated_at: '2026-12-02T10:00:00.000Z',
};

describe('the send gate', () => {
  it('lets a tenant that is not held send, without reading the campaign', async () => {
    const { gate, calls } = setup({ tenant_id: 't', updated_at: 'x', released_at: 'y' });
    expect(await gate.heldBack('t', 'txn1')).toBeUndefined();
    expect(calls.getTransaction).toBe(0);
    expect(calls.pauses).toEqual([]);
  });

  it("holds back a held tenant's chunks, asks for the pause at each, and audits only the pause that took effect", async () => {
    const { gate, calls, resume } = setup(held);
    for (let i = 0; i < 5; i++) expect(await gate.heldBack('t', 'txn1')).toBe('reputation guard: complaints');
    expect(await gate.heldBack('t', 'txn2')).toBe('reputation guard: complaints');
    expect(calls.pauses).toEqual(['txn-txn1', 'txn-txn1', 'txn-txn1', 'txn-txn1', 'txn-txn1', 'txn-txn2']);
    expect(calls.audits).toBe(2);
    // Resumed without an override (past a gate's cached read): the next chunk pauses it again, audited.
    resume('txn-txn1');
    expect(await gate.heldBack('t', 'txn1')).toBeDefined();
    expect(calls.audits).toBe(3);
  });

  it('shares one pause request among the chunks of a campaign held back at once', async () => {
    const { gate, calls } = setup(held);
    await Promise.all(Array.from({ length: 4 }, () => gate.heldBack('t', 'txn1')));
    expect(calls.pauses).toEqual(['txn-txn1']);
  });

  it('lets through a campaign the operator resumed during this hold, not one resumed during an earlier hold', async () => {
    const now = setup(held, { reputation_override: { at: 'x', held_since: held.held_since } });
    expect(await now.gate.heldBack('t', 'txn1')).toBeUndefined();
    expect(now.calls.pauses).toEqual([]);
    const earlier = setup(held, { reputation_override: { at: 'x', held_since: '2026-11-01T00:00:00.000Z' } });
    expect(await earlier.gate.heldBack('t', 'txn1')).toBeDefined();
  });

  it('reads the state item at most once per STATE_CACHE_MS, and sees a hold taken by another process after it', async () => {
    const { gate, calls, setState, advance } = setup(undefined);
    expect(await gate.heldBack('t', 'txn1')).toBeUndefined();
    setState(held);
    expect(await gate.heldBack('t', 'txn1')).toBeUndefined();
    expect(calls.getState).toBe(1);
    advance(STATE_CACHE_MS);
    expect(await gate.heldBack('t', 'txn1')).toBeDefined();
    expect(calls.getState).toBe(2);
  });

  it('still holds back the chunk when the pause is refused, and clears the reason it wrote', async () => {
    const { gate, calls, refuse } = setup(held);
    refuse();
    expect(await gate.heldBack('t', 'txn1')).toBeDefined();
    expect(calls.pauses).toEqual([]);
    expect(calls.audits).toBe(0);
    expect(calls.fields.at(-1)).toEqual({ held_reason: null });
  });
});
