// Retention rules (src/domain/retention.ts): a tenant's own setting, else the defaults, never
// below the minimum; items expire the retention after the later of now and the send time.
import { describe, expect, it } from 'vitest';
import { DAY_MS, DEFAULT_RETENTION, effectiveRetention, expiresAtSeconds, retentionCutoff } from '../../src/domain/retention';
import { loadConfig, retentionDefaults } from '../../src/config';

describe('retention', () => {
  it('documents its defaults: a year of campaign records, a month of uploads, at least a day', () => {
    expect(DEFAULT_RETENTION).toEqual({ days: 365, uploadDays: 30, minDays: 1 });
    expect(retentionDefaults(loadConfig({ APP_ENV: 'test', LOCAL_STACK_DIR: '/tmp/email-engine-unit' }))).toEqual(DEFAULT_RETENTION);
  });

  it("takes the tenant's setting, else the default, and never less than the minimum", () => {
    expect(effectiveRetention(undefined, DEFAULT_RETENTION)).toEqual({ days: 365, uploadDays: 30 });
    expect(effectiveRetention({ retention_days: 90 }, DEFAULT_RETENTION)).toEqual({ days: 90, uploadDays: 30 });
    expect(effectiveRetention({ retention_days: 0.5, upload_retention_days: 7 }, DEFAULT_RETENTION)).toEqual({ days: 1, uploadDays: 7 });
    expect(effectiveRetention({ upload_retention_days: 0.001 }, { ...DEFAULT_RETENTION, minDays: 0 })).toEqual({
      days: 365,
      uploadDays: 0.001,
    });
  });

  it('counts from the send time when the campaign is scheduled later', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(expiresAtSeconds(now, 2)).toBe((now + 2 * DAY_MS) / 1000);
    expect(expiresAtSeconds(now, 2, '2026-03-01T00:00:00Z')).toBe((Date.parse('2026-03-01T00:00:00Z') + 2 * DAY_MS) / 1000);
    expect(expiresAtSeconds(now, 2, '2025-12-01T00:00:00Z')).toBe((now + 2 * DAY_MS) / 1000);
    expect(retentionCutoff(now, 30).toISOString()).toBe('2025-12-02T00:00:00.000Z');
  });

  it('refuses a minimum under a day in production', () => {
    const production = {
      APP_ENV: 'production',
      RETENTION_MIN_DAYS: '0',
      UNSUBSCRIBE_SECRET: 'x'.repeat(32),
      OPERATOR_TOKEN: 'y'.repeat(40),
      PUBLIC_BASE_URL: 'https://mail.example.com',
    };
    expect(() => loadConfig(production)).toThrow(/RETENTION_MIN_DAYS: must be at least 1 in production/);
  });
});
