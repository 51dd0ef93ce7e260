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
          executeUpdate: async () => {
            if (refuse) throw Object.assign(new Error('refused'), { name: 'WorkflowNotFoundError' });
            calls.pauses.push(id);
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

  it("holds back a held tenant's chunks and asks for each campaign's pause once per hold", async () => {
    const { gate, calls, setState, advance } = setup(held);
    for (let i = 0; i < 5; i++) expect(await gate.heldBack('t', 'txn1')).toBe('reputation guard: complaints');
    expect(await gate.heldBack('t', 'txn2')).toBe('reputation guard: complaints');
    expect(calls.pauses).toEqual(['txn-txn1', 'txn-txn2']);
    expect(calls.audits).toBe(2);
    expect(calls.fields).toEqual([{ held_reason: 'reputation guard: complaints' }, { held_reason: 'reputation guard: complaints' }]);
    // A new hold (after a release) pauses the campaign again.
    setState({ ...held, held_since: '2026-12-02T12:00:00.000Z' });
    advance(STATE_CACHE_MS);
    expect(await gate.heldBack('t', 'txn1')).toBeDefined();
    expect(calls.pauses).toHaveLength(3);
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
