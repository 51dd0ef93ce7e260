// What a tenant labels a campaign with at creation (issue 15, item 1): a name to find it by,
// tags to group it, and a small metadata object of its own. All three are copied into every
// webhook and analytics document of the campaign, so they are kept small and flat: receivers
// and dashboards get plain strings, numbers, booleans and nulls, never a nested structure.
import { z } from 'zod';
import { hasControlCharacter } from './sender-identity';

export const MAX_NAME_LENGTH = 200;
export const MAX_TAGS = 10;
/** A tag: letters, digits and `_ . : -`, safe in a query string, a log line and an OpenSearch term. */
export const TAG_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const MAX_METADATA_KEYS = 20;
export const MAX_METADATA_KEY_LENGTH = 64;
/** The most the metadata object takes as JSON (UTF-8 bytes). */
export const MAX_METADATA_BYTES = 2048;

const NO_CONTROL = 'must not contain control characters (line breaks, tabs, NUL…)';
const plainText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => !hasControlCharacter(s), NO_CONTROL);

export const campaignName = plainText(MAX_NAME_LENGTH).describe('A name to find the campaign by (no control characters)');

export const campaignTag = z.string().regex(TAG_PATTERN, 'must be 1 to 64 of A-Z, a-z, 0-9, _ . : -');

/** Up to 10 tags; a tag given twice is kept once, in the order first given. */
export const campaignTags = z
  .array(campaignTag)
  .max(MAX_TAGS)
  .transform((tags) => [...new Set(tags)])
  .describe('Tags to group and filter campaigns by; a tag given twice is kept once');

const metadataValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

export const campaignMetadata = z
  .record(plainText(MAX_METADATA_KEY_LENGTH), metadataValue)
  .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, `must have at most ${MAX_METADATA_KEYS} keys`)
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes as JSON`)
  .describe(
    `The tenant's own data about the campaign, returned in its status, webhooks and listings: at most ${MAX_METADATA_KEYS} keys, ` +
      `${MAX_METADATA_BYTES} bytes as JSON, values strings, numbers, booleans or null`,
  );

export type CampaignMetadata = z.infer<typeof campaignMetadata>;

/** A campaign's labels as they were given (each absent on campaigns created without it, or before labels existed). */
export interface CampaignLabels {
  name?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
}

/** The labels as the API, webhooks and analytics show them: null, [] and {} for what a campaign lacks. */
export function labelsView(labels: CampaignLabels) {
  return { name: labels.name ?? null, tags: labels.tags ?? [], metadata: labels.metadata ?? {} };
}

/**
 * The form names are searched in (`q`): lower-cased after Unicode compatibility normalisation,
 * so `Ｓpring` and `spring` match. The search term goes through the same function.
 */
export const searchForm = (text: string) => text.normalize('NFKC').toLowerCase();
