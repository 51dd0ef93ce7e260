// The send path's property-based interleavings (issue 13, "Prove it") against DynamoDB Local
// itself: the same model as test/unit/send-interleavings.property.test.ts (test/support/send-model.ts),
// over the real deps from setupDeps() (MessageTable's conditional writes and applyEffect, the
// Store's counters and reconcile, the suppression list; the template's bytes are read from S3
// once, before Date is faked, as S3 refuses requests signed too far from its clock), so the in-memory
// ConditionalStore the unit file explores thousands of interleavings with cannot drift from
// the real thing (soft-bounce retries included: the policy decision, superseded attempts, the
// retry's conditional write). SES is the model's stand-in behind the messenger port.
//
// FC_SEED / FC_PATH replay a failure (the failure prints the command); FC_RUNS changes the count;
// FC_ONLY=<text> fails a run only on a violation with that text (one kind at a time).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  checkInterleavings,
  inMemoryBackend,
  messageRecords,
  silentLog,
  TEMPLATE,
  type Backend,
  type ModelDeps,
} from '../support/send-model';
import { createTemplate, createTransaction, setupDeps, TENANTS } from './fixtures';

const { deps, close } = setupDeps();
afterAll(() => close());

let templateId: string;
/** The template's body as S3 holds it, read once before the clock is faked (S3 refuses requests signed far from its own clock). */
const bodies = new Map<string, Buffer>();
beforeAll(async () => {
  templateId = await createTemplate(deps, TEMPLATE);
  const template = (await deps.store.getTemplate(TENANTS.a.tenantId, templateId)) as { s3_key: string; pinned_key?: string };
  for (const key of new Set([template.s3_key, template.pinned_key ?? template.s3_key])) {
    bodies.set(key, Buffer.from(await deps.objects.getText(key)));
  }
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterAll(() => {
  vi.useRealTimers();
});

function dynamoBackend(): Backend {
  const tenantId = TENANTS.a.tenantId;
  // DynamoDB is the real one; the template's bytes come from the copy read before the clock was faked.
  const objects = {
    readUpTo: async (key: string, maxBytes: number) => {
      const body = bodies.get(key);
      return body ? { body: body.subarray(0, maxBytes + 1), size: body.length } : undefined;
    },
    getText: async (key: string) => {
      const body = bodies.get(key);
      if (!body) throw new Error(`NoSuchKey: ${key}`);
      return body.toString('utf8');
    },
  };
  const modelDeps = { ...deps, objects, log: silentLog } as unknown as ModelDeps;
  return {
    deps: modelDeps,
    async prepare({ emails, suppressed }) {
      const txn = await createTransaction(deps, { templateId, fileId: 'file-property' });
      const messages = messageRecords(txn.transaction_id, tenantId, emails);
      await deps.writer.writeAll(messages.map((m) => deps.messages.messageItem(m)));
      const at = new Date().toISOString();
      for (const email of suppressed)
        await deps.suppressions.putSuppression({ tenant_id: tenantId, email, reason: 'TEST', created_at: at });
      return { transactionId: txn.transaction_id, tenantId, templateId, batchId: 'b00001', messages };
    },
    async counts(transactionId) {
      const txn = await deps.store.getTransaction(undefined, transactionId);
      if (!txn) throw new Error(`transaction ${transactionId} missing`);
      return txn.counts;
    },
  };
}

describe('one send chunk under overlapping attempts, crashes, SES faults and SES events (DynamoDB Local)', () => {
  it(
    'mails each recipient at most once per round (unless the grace rule allowed it) and again only after a soft bounce, leaves none behind, and counts exactly',
    async () => {
      const started = performance.now();
      const { stats, seed, numRuns } = await checkInterleavings({
        backend: dynamoBackend(),
        // Each interleaving is replayed step for step on the in-memory stand-in: same story, or the stand-in drifted.
        mirror: () => inMemoryBackend(TENANTS.a.tenantId),
        // 100 (120 before the soft-bounce retries): each run now has a retry phase too.
        numRuns: 100,
        vitestArgs: '--project stack test/integration/send-interleavings.property.test.ts',
      });
      console.log(
        `[send-interleavings, DynamoDB Local] seed ${seed}, ${numRuns} runs in ${((performance.now() - started) / 1000).toFixed(1)} s: ${stats.summary()}`,
      );
      // A replay (FC_PATH) or a chosen count (FC_RUNS) runs what it was asked; a CI run explores at least 100.
      expect(stats.interleavings).toBeGreaterThanOrEqual(process.env.FC_PATH || process.env.FC_RUNS ? 1 : 100);
    },
    // The runs take about 1 s each (both stores); the rest is room to shrink a counterexample.
    process.env.FC_RUNS ? 3_600_000 : 300_000,
  );
});
