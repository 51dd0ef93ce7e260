// Issue 17, item 3: a campaign's Temporal priority, and the operator's fairness weights.
import { describe, expect, it } from 'vitest';
import { campaignPriority, fairnessKeyOf, parseFairnessWeights } from '../../src/domain/campaign-priority';
import { loadConfig } from '../../src/config';

describe('campaign priority', () => {
  it('maps high, normal and low to priority keys 1, 3, 5, keyed for fairness by tenant with its weight', () => {
    const weights = parseFairnessWeights('a=2, b=0.5');
    expect(weights).toEqual({ a: 2, b: 0.5 });
    expect(campaignPriority({ tenant_id: 'a', priority: 'high' }, weights)).toEqual({
      priorityKey: 1,
      fairnessKey: 'a',
      fairnessWeight: 2,
    });
    expect(campaignPriority({ tenant_id: 'b' }, weights)).toEqual({ priorityKey: 3, fairnessKey: 'b', fairnessWeight: 0.5 });
    expect(campaignPriority({ tenant_id: 'c', priority: 'low' }, weights)).toEqual({ priorityKey: 5, fairnessKey: 'c', fairnessWeight: 1 });
  });

  it('keeps fairness keys within 64 bytes, and refuses a bad weight naming the setting', () => {
    const long = 'ü'.repeat(40);
    expect(Buffer.byteLength(fairnessKeyOf(long))).toBeLessThanOrEqual(64);
    expect(fairnessKeyOf(long)).not.toBe(fairnessKeyOf(`${long}x`));
    expect(fairnessKeyOf('tenant-a')).toBe('tenant-a');
    for (const bad of ['a', 'a=0', 'a=-1', 'a=1001', 'a=x']) expect(() => parseFairnessWeights(bad), bad).toThrow();
    expect(() => loadConfig({ TENANT_FAIRNESS_WEIGHTS: 'a=0' })).toThrow(/TENANT_FAIRNESS_WEIGHTS/);
    expect(loadConfig({}).TENANT_FAIRNESS_WEIGHTS).toBe('');
  });
});
