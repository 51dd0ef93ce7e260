// Issue 13 item 4, end to end: the short version of `npm run drills -- --only template-bomb`
// (test/drills/upload-drills.ts) on the shared test stack, workers in process. Tenant B's
// template renders 200 MB per recipient; its messages end FAILED with RENDER_TOO_LARGE without
// a send activity failing or retrying, and tenant A's campaign beside it keeps its rate.
import { describe, expect, it } from 'vitest';
import { templateBomb } from '../drills/upload-drills';
import { TENANTS, useEngine } from '../support/harness';

const engine = useEngine({ events: 'connect', config: { OUTCOME_POLL_SECONDS: '5', FINAL_STATE_DEADLINE_SECONDS: '120' } });

describe('template bomb, short', () => {
  it("fails every message of the 200 MB-per-recipient template with RENDER_TOO_LARGE, no retry; the other tenant's campaign keeps its rate", async () => {
    const result = await templateBomb(
      { config: engine.config, apiUrl: engine.url, a: TENANTS.a, b: TENANTS.b },
      { recipients: 150, bombRecipients: 300, perMinute: 1800, timeoutMs: 120_000 },
    );
    console.info('template bomb:', result.line);
    expect(result.bombFailed).toBe(300);
    expect(result.retries).toBe(0);
  });
});
