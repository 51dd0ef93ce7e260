// A worker process is killed (SIGKILL) at three moments; each time a new worker process picks
// the campaign up, and it ends COMPLETED with every valid recipient mailed exactly once, exact
// counts and every status webhook in order. Short versions of `npm run drills -- --only
// worker-kill` (test/drills/process-drills.ts), on the shared test stack with an in-process API.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { killDuringProcessing, killDuringSending, killWhileWaiting, processEngine, type Engine } from '../drills/process-drills';
import { TENANTS, useEngine } from '../support/harness';

// No in-process workers: the scenarios start and kill worker processes. Signer only: each scenario decides when SES events flow.
const fixture = useEngine({
  workers: 0,
  events: 'signer',
  config: {
    SEND_CHUNK_SIZE: '10',
    BATCH_SIZE: '100',
    MAX_CONCURRENT_BATCHES: '3',
    SENDING_GRACE_SECONDS: '5',
    FINAL_STATE_DEADLINE_SECONDS: '300',
    OUTCOME_POLL_SECONDS: '30',
  },
});
let engine: Engine;

beforeAll(() => {
  engine = processEngine(fixture.config, { apiUrl: fixture.url, tenant: TENANTS.a, signer: fixture.pipeline.signer });
});
afterAll(async () => {
  await engine?.killWorkers();
  await engine?.stop();
});

// The worker left running by one test is the one the next test kills.
describe('worker killed (SIGKILL), a new worker process picks up', () => {
  // As on the real platform, SES Send events flow back: a message the killed worker handed to
  // SES but never recorded is marked SENT by its Send event within the grace period, so the
  // new worker does not send it again.
  it('mid-send: every recipient exactly once', async () => {
    console.info(
      'mid-send:',
      (await killDuringSending(engine, { recipients: 300, killAfterSent: 60, perMinute: 3000, timeoutMs: 150_000 })).line,
    );
  });

  // The ingest activity's heartbeat timeout (1 minute) decides when the new worker takes over.
  it('during PROCESSING of a 10,000-row file: ingest resumes, every valid recipient exactly once', async () => {
    console.info('PROCESSING:', (await killDuringProcessing(engine, { rows: 10_000, validShare: 0.05, timeoutMs: 150_000 })).line);
  });

  it('while the batches wait for delivery events (held back until the new worker is up): COMPLETED, exact', async () => {
    console.info('waiting:', (await killWhileWaiting(engine, { recipients: 300, timeoutMs: 120_000 })).line);
  });
});
