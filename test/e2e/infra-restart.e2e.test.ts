// Infrastructure restarts mid-campaign, small versions of the drills in test/drills/infra-drills.ts
// (`npm run drills` runs the long ones): the Temporal dev server killed mid-send and restarted on
// its db file, DynamoDB Local killed mid-ingest and restarted on its files. The worker and the
// API (here in the test process, with the workflow bundle of the global setup, to start fast)
// must ride through; each drill throws on a failed check (every valid recipient mailed exactly
// once, counts exact, webhooks in order and signed, worker and API still up). Each starts its
// own platform next to the shared stack of the global setup. DRILL_LOG=1 prints their progress.
import { inject, describe, expect, it } from 'vitest';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { dynamoRestartDrill, temporalRestartDrill } from '../drills/infra-drills';

// The worker's retries while a server is down are expected; only errors are worth printing.
try {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  });
} catch {
  // already installed in this process
}
const log = process.env.DRILL_LOG ? (line: string) => process.stderr.write(`${line}\n`) : undefined;
const workflowBundlePath = inject('workflowBundlePath');

describe('infrastructure restarts mid-campaign', () => {
  it('rides through a Temporal dev server killed mid-send and restarted on its db file', async () => {
    const result = await temporalRestartDrill({ recipients: 200, outageMs: 10_000, log, workflowBundlePath });
    expect(result).toMatch(/all 200 mailed exactly once/);
  }, 240_000);

  it('rides through DynamoDB Local killed mid-ingest and restarted on its files', async () => {
    // 10,000 rows keep ingest busy for several seconds; every 20th is a valid address, so the
    // send that follows stays short (500 mails) and 9,500 rejected rows are counted exactly.
    const result = await dynamoRestartDrill({ rows: 10_000, validEvery: 20, outageMs: 5000, log, workflowBundlePath });
    expect(result).toMatch(/all 500 mailed exactly once, 9500 rows rejected/);
  }, 240_000);
});
