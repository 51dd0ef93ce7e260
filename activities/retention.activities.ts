// The retention sweep (retentionWorkflow, run by a Temporal Schedule): for every tenant with
// recipient files or analytics documents, deletes the uploaded CSVs and pinned copies older than
// its upload retention (but never one a campaign still ingests) and the analytics documents
// older than its retention. Messages and rejected rows need no sweep: DynamoDB's TTL deletes them
// by `expires_at`, written at ingest.
import { Context } from '@temporalio/activity';
import type { RetentionSweepResult } from '../src/domain/erasure';
import { DEFAULT_RETENTION, effectiveRetention, retentionCutoff } from '../src/domain/retention';
import { s3Keys } from '../src/adapters/s3';
import type { CampaignFile } from '../src/adapters/dynamo/recipients';
import { transactionWorkflowId } from '../src/contracts';
import type { ActivityDeps } from './deps';

type Governance = Required<Pick<ActivityDeps, 'recipients'>>;

/** The recipient index and erasure records, which only a worker wired for retention and erasure has. */
export function governanceOf(deps: ActivityDeps): Governance {
  if (!deps.recipients) throw new Error('retention and erasure activities need deps.recipients');
  return { recipients: deps.recipients };
}

/** Still ingesting: ACCEPT or PROCESSING (the ingest writes messages and reads the file until it moves on). */
const INGESTING = new Set(['ACCEPT', 'PROCESSING']);

/**
 * The tenant's campaigns that may still read their recipient file: recent ones still ingesting,
 * with their workflow running (without a way to ask Temporal, every such record counts), and
 * the files they read (`inUse`: the pinned copy, or the upload for a campaign from before
 * pinning); beside them, the pinned copies every recent campaign claimed.
 */
export async function campaignFiles(
  deps: ActivityDeps,
  tenantId: string,
): Promise<{ ingesting: CampaignFile[]; inUse: Set<string>; claimed: Set<string> }> {
  const campaigns = await governanceOf(deps).recipients.recentCampaigns(tenantId);
  const candidates = campaigns.filter((c) => INGESTING.has(c.status));
  const { workflows } = deps;
  const running = workflows ? await Promise.all(candidates.map((c) => workflows.isRunning(transactionWorkflowId(c.transaction_id)))) : [];
  const ingesting = workflows ? candidates.filter((_, i) => running[i]) : candidates;
  return {
    ingesting,
    inUse: new Set(ingesting.map((c) => c.file_key ?? s3Keys.file(tenantId, c.file_id))),
    claimed: new Set(campaigns.flatMap((c) => (c.file_key ? [c.file_key] : []))),
  };
}

/** Where a retried sweep goes on: after the last object it went past, then after the last tenant's analytics. */
interface Checkpoint {
  root: number;
  afterKey?: string;
  afterTenant?: string;
  result: RetentionSweepResult;
}

type TenantFiles = { before: Date; inUse: Set<string> };

export function createRetentionActivities(deps: ActivityDeps) {
  const defaults = () => deps.settings.retention ?? DEFAULT_RETENTION;
  const retentionOf = async (tenantId: string) =>
    effectiveRetention(await governanceOf(deps).recipients.getRetention(tenantId), defaults());

  /**
   * One pass over every tenant's objects (in key order, so each tenant's come together): a
   * recipient file older than its tenant's upload retention is deleted unless a campaign still
   * ingests it. Templates are not personal data and campaigns send from them: they stay.
   */
  async function sweepFiles(checkpoint: Checkpoint, heartbeat: () => void): Promise<void> {
    const tenants = new Map<string, TenantFiles>();
    const filesOf = async (tenantId: string): Promise<TenantFiles> => {
      let files = tenants.get(tenantId);
      if (!files) {
        const retention = await retentionOf(tenantId);
        files = { before: retentionCutoff(Date.now(), retention.uploadDays), inUse: (await campaignFiles(deps, tenantId)).inUse };
        tenants.set(tenantId, files);
      }
      return files;
    };
    const { result } = checkpoint;
    for (; checkpoint.root < s3Keys.tenantRoots.length; checkpoint.root++, checkpoint.afterKey = undefined) {
      for await (const object of deps.objects.list(s3Keys.tenantRoots[checkpoint.root]!, checkpoint.afterKey)) {
        const tenantId = s3Keys.recipientFileTenant(object.key);
        if (tenantId !== undefined) {
          const files = await filesOf(tenantId);
          if (object.lastModified < files.before) {
            if (files.inUse.has(object.key)) result.files_kept_in_use += 1;
            else {
              await deps.objects.delete(object.key);
              result.files_deleted += 1;
            }
          }
        }
        checkpoint.afterKey = object.key;
        heartbeat();
      }
    }
  }

  /** The analytics documents of every tenant that has any, past its retention. */
  async function sweepAnalytics(checkpoint: Checkpoint, heartbeat: () => void): Promise<void> {
    const { analytics } = deps;
    if (!analytics) return;
    for (const tenantId of (await analytics.tenantsWithDocuments()).sort()) {
      if (checkpoint.afterTenant !== undefined && tenantId <= checkpoint.afterTenant) continue;
      const retention = await retentionOf(tenantId);
      const deleted = await analytics.deleteOlderThan(tenantId, retentionCutoff(Date.now(), retention.days), heartbeat);
      checkpoint.result.event_documents_deleted += deleted.events;
      checkpoint.result.message_documents_deleted += deleted.messages;
      checkpoint.result.tenants += 1;
      checkpoint.afterTenant = tenantId;
      heartbeat();
    }
  }

  async function sweepRetention(): Promise<RetentionSweepResult> {
    const ctx = Context.current();
    const checkpoint: Checkpoint = (ctx.info.heartbeatDetails as Checkpoint | undefined) ?? {
      root: 0,
      result: { tenants: 0, files_deleted: 0, files_kept_in_use: 0, event_documents_deleted: 0, message_documents_deleted: 0 },
    };
    const heartbeat = () => ctx.heartbeat(checkpoint);
    await sweepFiles(checkpoint, heartbeat);
    await sweepAnalytics(checkpoint, heartbeat);
    deps.log.info('retention sweep finished', { activity: 'sweepRetention', ...checkpoint.result });
    return checkpoint.result;
  }

  return { sweepRetention };
}
