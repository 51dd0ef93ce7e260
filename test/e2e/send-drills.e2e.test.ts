// Short versions of `npm run drills -- --only ses-hang` and `--only late-send-events`
// (test/drills/send-drills.ts) on the shared test stack: worker processes, the API in-process,
// the stack's SES emulator behind a fault proxy of the drills. As short as the mechanism allows:
// the holds must outlast the 30 s heartbeat timeout and the Send events must come later than the
// old 30 s grace, so SENDING_GRACE_SECONDS is 45 here (above the latest late forward, 34 s, and
// the Send events' delay, 35 s). Each scenario takes one to two minutes, mostly waiting out
// timeouts, so the two run at the same time, each with its own engine (task queues, API, worker
// process, proxy, event source): one kills its worker without touching the other's, and each
// event source sees only its own engine's mail (the proxy's `/store`).
import { afterAll, beforeAll, describe, inject, it } from 'vitest';
import { processEngine } from '../drills/process-drills';
import { lateSendEvents, sesHang, startSesFaultProxy, type SendDrillContext, type SesFaultProxy } from '../drills/send-drills';
import { TENANTS, useEngine, type TestEngine } from '../support/harness';

/** An engine of its own in front of its own fault proxy; no in-process workers (the scenario starts and kills worker processes). */
function drillEngine() {
  let proxy: SesFaultProxy | undefined;
  let ctx: SendDrillContext | undefined;
  // Signer only: each scenario runs its own event source.
  const fixture: TestEngine = useEngine({
    workers: 0,
    events: 'signer',
    config: async () => {
      proxy = await startSesFaultProxy(inject('stackEnv').SES_ENDPOINT!);
      return {
        SES_ENDPOINT: proxy.url,
        SENDING_GRACE_SECONDS: '45',
        SEND_CHUNK_SIZE: '10',
        BATCH_SIZE: '40',
        MAX_CONCURRENT_BATCHES: '3',
        FINAL_STATE_DEADLINE_SECONDS: '300',
        OUTCOME_POLL_SECONDS: '10',
      };
    },
  });
  beforeAll(() => {
    const engine = processEngine(fixture.config, { apiUrl: fixture.url, tenant: TENANTS.a, signer: fixture.pipeline.signer });
    ctx = { engine, proxy: proxy! };
  });
  afterAll(async () => {
    await ctx?.engine.killWorkers();
    await ctx?.engine.stop();
    await proxy?.close();
  });
  return () => ctx!;
}

const hang = drillEngine();
const late = drillEngine();

describe.concurrent('send path drills, short: the real SES emulator behind a fault proxy', () => {
  it('ses-hang: SES calls hang past the heartbeat timeout; late ones settled by their Send event, the others sent again after the grace; each recipient once', async () => {
    console.info(
      'ses-hang:',
      await sesHang(hang(), {
        recipients: 120,
        perMinute: 1200,
        holdFrom: 20,
        windowMs: 3000,
        lateMs: [31_000, 34_000],
        neverMs: 33_000,
        timeoutMs: 170_000,
      }),
    );
  }, 200_000);

  it('late-send-events: worker SIGKILLed between SES accepting and SENT, Send events 35 s late: nothing SES had is sent again; each recipient once', async () => {
    console.info(
      'late-send-events:',
      await lateSendEvents(late(), { recipients: 120, perMinute: 1200, killAt: 30, sendEventDelayMs: 35_000, timeoutMs: 170_000 }),
    );
  }, 200_000);
});
