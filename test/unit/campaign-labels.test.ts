// Issue 15, item 1: the rules for a campaign's name, tags and metadata (src/domain/campaign-labels.ts),
// as properties over generated input, and the listing cursor's checks (api/campaign-listing.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  campaignMetadata,
  campaignName,
  campaignTags,
  labelsView,
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
  searchForm,
} from '../../src/domain/campaign-labels';
import { campaignCursor, listCampaignsQuery } from '../../api/campaign-listing';
import { encodeCursor } from '../../api/pagination';

const TAG_CHARS = 'abcXYZ019_.:-'.split('');
const tag = fc.array(fc.constantFrom(...TAG_CHARS), { minLength: 1, maxLength: 64 }).map((c) => c.join(''));
const scalar = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.string({ minLength: 1, maxLength: 64 }).filter((k) => !/[\u0000-\u001f\u007f-\u009f]/.test(k) && k !== '__proto__');
const CONTROL = fc.constantFrom('\n', '\r', '\t', '\u0000', '\u001b', '\u007f', '\u0085', '\u009b');

describe('campaign name', () => {
  it('takes 1 to 200 characters without control characters, and nothing else', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), CONTROL, fc.nat(), (text, control, at) => {
        const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, 'x');
        expect(campaignName.parse(clean)).toBe(clean);
        const i = at % (clean.length + 1);
        expect(campaignName.safeParse(clean.slice(0, i) + control + clean.slice(i)).success).toBe(false);
      }),
    );
    expect(campaignName.safeParse('').success).toBe(false);
    expect(campaignName.safeParse('x'.repeat(201)).success).toBe(false);
  });
});

describe('campaign tags', () => {
  it('keeps each valid tag once, in the order first given', () => {
    fc.assert(
      fc.property(fc.array(tag, { maxLength: 10 }), (tags) => {
        const parsed = campaignTags.parse(tags);
        expect(parsed).toEqual(tags.filter((t, i) => tags.indexOf(t) === i));
        expect(new Set(parsed).size).toBe(parsed.length);
      }),
    );
  });

  it('refuses more than 10, and any tag outside [A-Za-z0-9_.:-]{1,64}', () => {
    // Counted as given: eleven tags are refused even when some repeat.
    fc.assert(
      fc.property(fc.array(tag, { minLength: 11, maxLength: 20 }), (tags) => {
        expect(campaignTags.safeParse(tags).success).toBe(false);
      }),
    );
    for (const bad of ['', 'has space', 'é', 'a/b', 'a,b', 'x'.repeat(65), 'tab\t']) {
      expect(campaignTags.safeParse([bad]).success, JSON.stringify(bad)).toBe(false);
    }
    expect(campaignTags.safeParse(['ok', 7]).success).toBe(false);
  });
});

describe('campaign metadata', () => {
  it('takes a flat object of strings, numbers, booleans and nulls exactly when it has at most 20 keys and 2 KiB of JSON', () => {
    fc.assert(
      fc.property(fc.dictionary(key, scalar, { maxKeys: 30 }), (metadata) => {
        const fits = Object.keys(metadata).length <= MAX_METADATA_KEYS && Buffer.byteLength(JSON.stringify(metadata)) <= MAX_METADATA_BYTES;
        const result = campaignMetadata.safeParse(metadata);
        expect(result.success).toBe(fits);
        if (result.success) expect(result.data).toEqual(metadata);
      }),
    );
  });

  it('refuses nesting, arrays and non-objects', () => {
    fc.assert(
      fc.property(key, fc.oneof(fc.array(scalar), fc.dictionary(key, scalar, { minKeys: 1 })), (k, nested) => {
        expect(campaignMetadata.safeParse({ [k]: nested }).success).toBe(false);
      }),
    );
    for (const bad of [[], 'text', 3, null]) expect(campaignMetadata.safeParse(bad).success).toBe(false);
    expect(campaignMetadata.safeParse({ 'a\nb': 1 }).success).toBe(false);
  });

  it('measures bytes, not characters', () => {
    // 700 three-byte characters: 2,100 bytes, 700 characters.
    expect(campaignMetadata.safeParse({ k: '€'.repeat(700) }).success).toBe(false);
    expect(campaignMetadata.safeParse({ k: '€'.repeat(600) }).success).toBe(true);
  });
});

describe('labels as shown and searched', () => {
  it('shows null, [] and {} for what a campaign lacks', () => {
    expect(labelsView({})).toEqual({ name: null, tags: [], metadata: {} });
    expect(labelsView({ name: 'N', tags: ['a'], metadata: { a: 1 } })).toEqual({ name: 'N', tags: ['a'], metadata: { a: 1 } });
  });

  it('searches names case-insensitively, a part matching whatever its case', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (name, a, b) => {
        const [i, j] = [a % name.length, b % name.length].sort((x, y) => x - y) as [number, number];
        const part = name.slice(i, j + 1);
        expect(searchForm(name.toUpperCase()).includes(searchForm(part.toLowerCase()))).toBe(true);
        expect(searchForm(name.toLowerCase()).includes(searchForm(part.toUpperCase()))).toBe(true);
      }),
    );
    expect(searchForm('Spring SALE')).toBe('spring sale');
    expect(searchForm('Ｓｐｒｉｎｇ')).toBe('spring');
  });
});

describe('listing query and cursor', () => {
  const tenant = 'tenant-x';
  const key = (at: string, id: string, tenantId = tenant) => ({
    PK: `TRANSACTION#${id}`,
    SK: 'METADATA',
    GSI2PK: `TENANT#${tenantId}#TXN`,
    GSI2SK: `${at}#${id}`,
  });
  const AT = '2026-03-02T10:00:00.000Z';
  const ID = '01JABCDEFGHJKMNPQRSTVWXYZ0';

  it('gives back the position it was issued for', () => {
    expect(campaignCursor(encodeCursor(key(AT, ID)) ?? undefined, tenant, {})).toEqual(key(AT, ID));
    expect(campaignCursor(undefined, tenant, {})).toBeUndefined();
  });

  it("refuses another tenant's, an inconsistent, an unknown-shaped and an out-of-window cursor", () => {
    const refused = (value: unknown, window: { from?: string; to?: string } = {}) =>
      expect(() => campaignCursor(encodeCursor(value) ?? undefined, tenant, window)).toThrow(/cursor is not valid/);
    refused(key(AT, ID, 'tenant-y'));
    refused({ ...key(AT, ID), PK: 'TRANSACTION#other' });
    refused({ ...key(AT, ID), SK: 'BATCH#b00001' });
    refused({ ...key(AT, ID), GSI2SK: `2026-03-02T10:00:00Z#${ID}` });
    refused({ ...key(AT, ID), GSI2SK: `${AT}#${ID}#x` });
    refused({ ...key(AT, ID), more: 1 });
    refused({ PK: `TRANSACTION#${ID}`, SK: 'METADATA' });
    refused(key(AT, 'bad id!'));
    refused(key(AT, ID), { from: '2026-03-02T10:00:00.001Z' });
    refused(key(AT, ID), { to: AT });
    expect(campaignCursor(encodeCursor(key(AT, ID)) ?? undefined, tenant, { from: AT, to: '2026-03-02T10:00:00.001Z' })).toEqual(
      key(AT, ID),
    );
  });

  it('reads dates with any offset as UTC, and refuses a window that ends before it starts', () => {
    expect(listCampaignsQuery.parse({ created_from: '2026-03-02T12:00:00+02:00' }).created_from).toBe('2026-03-02T10:00:00.000Z');
    const backwards = listCampaignsQuery.safeParse({ created_from: '2026-03-02T10:00:00Z', created_to: '2026-03-02T10:00:00Z' });
    expect(backwards.success).toBe(false);
    expect(backwards.error?.issues[0]?.path).toEqual(['created_to']);
    expect(listCampaignsQuery.parse({}).limit).toBe(20);
    expect(listCampaignsQuery.safeParse({ unknown: 'x' }).success).toBe(false);
  });
});
