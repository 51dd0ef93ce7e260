// Short versions of `npm run drills -- --only two-instances` and `--only event-abuse`
// (test/drills/process-drills.ts) on the shared test stack: worker and second API as
// processes, the first API in-process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventAbuse, processEngine, twoInstances, type Engine } from '../drills/process-drills';
import { TENANTS, useEngine } from '../support/harness';

// No in-process workers: the scenarios start worker processes. Signer only: they post or stream events themselves.
const fixture = useEngine({
  workers: 0,
  events: 'signer',
  config: { SENDING_GRACE_SECONDS: '5', OUTCOME_POLL_SECONDS: '10', FINAL_STATE_DEADLINE_SECONDS: '120' },
});
let engine: Engine;

beforeAll(() => {
  engine = processEngine(fixture.config, { apiUrl: fixture.url, tenant: TENANTS.a, signer: fixture.pipeline.signer });
});
afterAll(async () => {
  await engine?.stop();
});

describe('reliability drills, short', () => {
  it('two workers and two API instances: one Idempotency-Key started through both at once is one transaction, each recipient once', async () => {
    console.info('two instances:', await twoInstances(engine, { recipients: 200, timeoutMs: 120_000 }));
  });

  it('event endpoint abuse: duplicated, shuffled, redelivered and unknown events in one burst: no 5xx, state exact', async () => {
    const result = await eventAbuse(engine, { recipients: 200, timeoutMs: 120_000 });
    console.info('event abuse:', result.line);
    expect(result.posts).toBeGreaterThanOrEqual(1000);
    expect(Object.keys(result.statuses)).toEqual(['200']);
  });
});
