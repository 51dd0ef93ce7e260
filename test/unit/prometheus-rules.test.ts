// The alert rules (ops/prometheus/alerts.yml) with the real promtool: `promtool check rules`
// and `promtool test rules ops/prometheus/alerts.test.yml`, whose cases make every alert fire
// and not fire. promtool comes from Debian's prometheus package, installed by ensurePrometheus()
// where missing (a fresh machine: apt-get, a minute); the test never skips.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ALERT_RULES_PATH,
  ALERT_RULES_TEST_PATH,
  ensurePrometheus,
  prometheusConfig,
  scaledAlertRules,
  STUCK_ALERT,
  type PrometheusBinaries,
} from '../../src/local/prometheus';

const run = promisify(execFile);
let bins: PrometheusBinaries;
let scratch: string;

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(bins.promtool, args, { cwd: dirname(ALERT_RULES_PATH) });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface Rules {
  groups: { rules: { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string> }[] }[];
}
interface RuleTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: { exp_labels: Record<string, string> }[] }[] }[];
}
const rules = parse(readFileSync(ALERT_RULES_PATH, 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);

beforeAll(async () => {
  bins = await ensurePrometheus((line) => console.error(`[prometheus-rules] ${line}`));
  scratch = mkdtempSync(join(tmpdir(), 'prometheus-rules-'));
}, 900_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// promtool evaluates 22 test cases in a few seconds on a quiet machine; the unit project runs
// files in parallel, so each promtool run gets a minute.
const PROMTOOL_MS = 60_000;

describe('alert rules with promtool', { timeout: PROMTOOL_MS }, () => {
  it('promtool check rules accepts ops/prometheus/alerts.yml', async () => {
    const result = await promtool('check', 'rules', ALERT_RULES_PATH);
    console.log(`promtool ${bins.version} check rules alerts.yml (exit ${result.code}):\n${result.output}`);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(
      new RegExp(`SUCCESS: ${alerts.length + rules.groups.flatMap((g) => g.rules).filter((r) => r.record).length} rules found`),
    );
  });

  it('promtool test rules passes alerts.test.yml', async () => {
    const result = await promtool('test', 'rules', ALERT_RULES_TEST_PATH);
    console.log(`promtool ${bins.version} test rules alerts.test.yml (exit ${result.code}):\n${result.output}`);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS');
  });

  it('every alert has a severity, a summary and a description, and a firing and a not-firing case', () => {
    const tests = parse(readFileSync(ALERT_RULES_TEST_PATH, 'utf8')) as RuleTests;
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const missing: string[] = [];
    for (const rule of alerts) {
      const name = rule.alert!;
      expect(['critical', 'warning'], name).toContain(rule.labels?.severity);
      const mine = cases.filter((c) => c.alertname === name);
      if (!mine.some((c) => c.exp_alerts.length > 0)) missing.push(`${name}: no firing case`);
      if (!mine.some((c) => c.exp_alerts.length === 0)) missing.push(`${name}: no not-firing case`);
    }
    expect(missing).toEqual([]);
    // The design documents' alerts and issue 16's additions, by name.
    expect(alerts.map((r) => r.alert).sort()).toEqual(
      [
        'EmailEngineApiErrorRateHigh',
        'EmailEngineCampaignFailureRateHigh',
        'EmailEngineCampaignProcessingSlow',
        'EmailEngineCampaignStuckProcessing',
        'EmailEngineGaugesStale',
        'EmailEngineScheduledSendLate',
        'EmailEngineSendErrorRateHigh',
        'EmailEngineSendQueueBacklogGrowing',
        'EmailEngineSendQueueBackup',
        'EmailEngineSesQuotaClose',
        'EmailEngineSesQuotaErrors',
        'EmailEngineTargetDown',
        'EmailEngineTenantBounceRateHigh',
        'EmailEngineTenantComplaintRateHigh',
        'EmailEngineWebhookBacklogOld',
      ].sort(),
    );
  });

  it("the e2e test's scaled copy only zeroes the waits and lowers the stuck threshold, and promtool accepts it", async () => {
    const scaled = scaledAlertRules(5);
    const file = join(scratch, 'alerts.scaled.yml');
    writeFileSync(file, scaled);
    const result = await promtool('check', 'rules', file);
    expect(result.code, result.output).toBe(0);
    const copy = (parse(scaled) as Rules).groups.flatMap((g) => g.rules);
    const original = rules.groups.flatMap((g) => g.rules);
    expect(copy).toHaveLength(original.length);
    copy.forEach((rule, i) => {
      const from = original[i]!;
      expect(rule.for).toBe(from.for === undefined ? undefined : '0s');
      if (rule.alert === STUCK_ALERT) expect(rule.expr).toBe('email_engine_oldest_processing_campaign_seconds > 5');
      else expect(rule).toEqual({ ...from, ...(from.for === undefined ? {} : { for: '0s' }) });
    });
  });

  it('the generated prometheus.yml passes promtool check config with the rules loaded', async () => {
    const file = join(scratch, 'prometheus.yml');
    writeFileSync(
      file,
      prometheusConfig({
        targets: [
          { job: 'worker', address: '127.0.0.1:9464' },
          { job: 'api', address: '127.0.0.1:3001' },
        ],
      }),
    );
    const result = await promtool('check', 'config', file);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SUCCESS: 1 rule files found');
  });
});
