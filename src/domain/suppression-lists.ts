// Suppression import and export (issue 15, item 6): what the API, the workflows and the
// activities agree on, and how one line of an import file is judged. Pure (workflows import it).
import { unguardFormula } from './csv-export';
import { normalizeEmail } from './email-address';

export const IMPORT_STATES = ['AWAITING_UPLOAD', 'QUEUED', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type ImportState = (typeof IMPORT_STATES)[number];
export const EXPORT_STATES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED'] as const;
export type ExportState = (typeof EXPORT_STATES)[number];

/** Where an import stands: every data line read is imported, a duplicate or rejected. */
export interface ImportProgress {
  lines_read: number;
  imported: number;
  /** Already suppressed (by address, or erased and suppressed by hash), or repeated earlier in the file. */
  duplicates: number;
  rejected: number;
}

export const emptyProgress = (): ImportProgress => ({ lines_read: 0, imported: 0, duplicates: 0, rejected: 0 });

export interface SuppressionListWorkflowInput {
  version: number;
  tenantId: string;
  /** The import's or the export's id. */
  jobId: string;
}

/** One workflow per import and per export: a second start of the same one is refused by Temporal. */
export const suppressionImportWorkflowId = (tenantId: string, importId: string) => `suppression-import-${tenantId}-${importId}`;
export const suppressionExportWorkflowId = (tenantId: string, exportId: string) => `suppression-export-${tenantId}-${exportId}`;

/**
 * Where the files are in S3. The upload is what the presigned URL names (the tenant may write it
 * until the URL expires); the pinned copy, made at start and never presigned, is what the import
 * reads and is deleted when it ends. The upload, the rejected-lines report and the export list
 * addresses, so they are among the tenant's recipient files (`…/files/`): the retention sweep
 * deletes them after the upload retention and an erasure cuts the person's rows out of them
 * (their `email` column). The pinned copy is not: an erasure must not shift the lines under an
 * import that resumes by line number (an erased address is never imported anyway).
 */
export const importUploadKey = (tenantId: string, importId: string) => `tenants/${tenantId}/files/suppression-imports/${importId}.csv`;
export const importPinnedKey = (tenantId: string, importId: string, copyId: string) =>
  `pinned/${tenantId}/suppression-imports/${importId}/${copyId}.csv`;
export const importReportKey = (tenantId: string, importId: string) =>
  `pinned/${tenantId}/files/suppression-imports/${importId}-rejected.csv`;
export const exportObjectKey = (tenantId: string, exportId: string) => `pinned/${tenantId}/files/suppression-exports/${exportId}.csv`;

/** The engine's own reasons, as the SES events and the unsubscribe page write them, and the API's default. */
// BOUNCE_SOFT_REPEATED: N soft bounces within M days, across campaigns (issue 17, item 2; off by default).
export const SUPPRESSION_REASONS = ['BOUNCE_PERMANENT', 'COMPLAINT', 'UNSUBSCRIBED', 'MANUAL', 'BOUNCE_SOFT_REPEATED'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** The engine's reasons and what other systems call them (lower case, spaces and dashes as underscores). */
const REASON_ALIASES: Record<string, SuppressionReason> = {
  bounce: 'BOUNCE_PERMANENT',
  bounced: 'BOUNCE_PERMANENT',
  hard_bounce: 'BOUNCE_PERMANENT',
  bounce_permanent: 'BOUNCE_PERMANENT',
  permanent_bounce: 'BOUNCE_PERMANENT',
  soft_bounce: 'BOUNCE_SOFT_REPEATED',
  soft_bounced: 'BOUNCE_SOFT_REPEATED',
  bounce_soft_repeated: 'BOUNCE_SOFT_REPEATED',
  complaint: 'COMPLAINT',
  spam: 'COMPLAINT',
  spam_complaint: 'COMPLAINT',
  unsubscribe: 'UNSUBSCRIBED',
  unsubscribed: 'UNSUBSCRIBED',
  manual: 'MANUAL',
};

/** The most a tenant's own text for a reason may be (the same as PUT /suppressions/{email}'s reason). */
export const MAX_REASON_NOTE = 200;

export type ImportLine =
  | { kind: 'valid'; email: string; reason: SuppressionReason; note?: string }
  | { kind: 'rejected'; code: 'INVALID_EMAIL' | 'REASON_TOO_LONG'; message: string };

/**
 * One data line: the address must pass the engine's own syntax check (the one recipient lists
 * pass), normalised as everywhere else. A reason the engine knows (or an alias of one) is kept;
 * an empty one is MANUAL; any other text is MANUAL too, with the tenant's text kept as a note,
 * so the engine's reasons stay a closed set.
 */
export function judgeImportLine(rawEmail: string | undefined, rawReason: string | undefined): ImportLine {
  const email = normalizeEmail(unguardFormula(rawEmail ?? ''));
  if (!email) return { kind: 'rejected', code: 'INVALID_EMAIL', message: 'not a valid email address' };
  const text = unguardFormula((rawReason ?? '').trim());
  if (text.length > MAX_REASON_NOTE) {
    return { kind: 'rejected', code: 'REASON_TOO_LONG', message: `the reason is longer than ${MAX_REASON_NOTE} characters` };
  }
  if (text === '') return { kind: 'valid', email, reason: 'MANUAL' };
  const key = text.toLowerCase().replace(/[\s-]+/g, '_');
  const known = REASON_ALIASES[key];
  return known ? { kind: 'valid', email, reason: known } : { kind: 'valid', email, reason: 'MANUAL', note: text };
}

/** Which columns of the header hold the address and the reason (names trimmed, any case); other columns are ignored. */
export function importColumns(header: string[]): { email: number; reason?: number } | undefined {
  const names = header.map((h) => h.trim().toLowerCase());
  const email = names.indexOf('email');
  if (email < 0) return undefined;
  const reason = names.indexOf('reason');
  return { email, ...(reason >= 0 ? { reason } : {}) };
}
