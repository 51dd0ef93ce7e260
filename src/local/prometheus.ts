// Prometheus on the local stack: finds Debian's `prometheus` package (the server and promtool),
// installing it with apt where missing, writes a scrape configuration for the engine's metrics
// endpoints that loads ops/prometheus/alerts.yml, and runs the server. Used by `npm start`,
// `npm run stack:prepare` and the tests (the rules' promtool test and the alerts e2e test).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { waitUntil } from './ports';
import { stopProcess } from './processes';

const run = promisify(execFile);

export const ROOT = join(__dirname, '..', '..');
export const ALERT_RULES_PATH = join(ROOT, 'ops', 'prometheus', 'alerts.yml');
export const ALERT_RULES_TEST_PATH = join(ROOT, 'ops', 'prometheus', 'alerts.test.yml');
/** The Debian package that ships /usr/bin/prometheus and /usr/bin/promtool (2.42 on bookworm). */
export const PROMETHEUS_PACKAGE = 'prometheus';

export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
  version: string;
  /** 'path': found installed; 'apt': installed just now. */
  source: 'path' | 'apt';
}

function onPath(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin']) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function find(): Omit<PrometheusBinaries, 'version' | 'source'> | undefined {
  const prometheus = onPath('prometheus');
  const promtool = onPath('promtool');
  return prometheus && promtool ? { prometheus, promtool } : undefined;
}

/** `apt-get install prometheus` (as root, or through password-less sudo); waits for another apt run's lock. */
async function aptInstall(log: (line: string) => void): Promise<void> {
  const root = process.getuid?.() === 0;
  const apt = onPath('apt-get');
  if (!apt) throw new Error('Prometheus is not installed and there is no apt-get: install the prometheus package (server and promtool).');
  const prefix = root ? [] : ['sudo', '-n'];
  const exec = async (args: string[]) => {
    const [cmd, ...rest] = [...prefix, apt, ...args];
    await run(cmd!, rest, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 15 * 60_000,
    });
  };
  log(`Installing Debian's ${PROMETHEUS_PACKAGE} package (Prometheus and promtool) with apt-get; this happens once per machine.`);
  const started = Date.now();
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  // The package's maintainer scripts would start a system Prometheus on :9090 (the port `npm
  // start` uses) where nothing forbids it: as root, a policy-rc.d forbids it for the install
  // (containers usually have one already; it is left alone then).
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = root && !existsSync(policy);
  if (ownPolicy)
    writeFileSync(policy, '#!/bin/sh\n# email-engine: no service starts while apt installs prometheus\nexit 101\n', { mode: 0o755 });
  try {
    await exec([...lock, 'update', '-qq']);
    await exec([...lock, 'install', '-y', '-qq', '--no-install-recommends', PROMETHEUS_PACKAGE]);
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `apt-get install ${PROMETHEUS_PACKAGE} failed${root ? '' : ' (not root: needs password-less sudo)'}: ${e.stderr?.slice(-2000) || e.message}`,
    );
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  log(`Installed ${PROMETHEUS_PACKAGE} in ${Math.round((Date.now() - started) / 1000)} s.`);
}

let ensured: Promise<PrometheusBinaries> | undefined;

/**
 * Prometheus and promtool: on PATH (or in /usr/bin), else installed from Debian's package with
 * apt-get. Throws when neither works: callers never skip. Once per process.
 */
export function ensurePrometheus(log: (line: string) => void = (l) => console.error(l)): Promise<PrometheusBinaries> {
  ensured ??= (async () => {
    let found: PrometheusBinaries['source'] = 'path';
    let bins = find();
    if (!bins) {
      await aptInstall(log);
      bins = find();
      if (!bins) throw new Error(`apt-get installed ${PROMETHEUS_PACKAGE} but prometheus/promtool are still not on PATH or in /usr/bin`);
      found = 'apt';
    }
    const { stdout, stderr } = await run(bins.prometheus, ['--version']);
    const version = /version (\S+)/.exec(stdout + stderr)?.[1] ?? 'unknown';
    return { ...bins, version, source: found };
  })();
  ensured.catch(() => (ensured = undefined));
  return ensured;
}

export interface ScrapeTarget {
  /** The job label: worker, api, temporal-sdk. */
  job: string;
  /** host:port */
  address: string;
  metricsPath?: string;
}

export interface PrometheusConfigOptions {
  targets: ScrapeTarget[];
  /** Rule files to load (default: the repository's alerts.yml). */
  ruleFiles?: string[];
  /** Scrape and rule evaluation interval (default 5s: short, for a local stack). */
  interval?: string;
}

/** The generated prometheus.yml: one job per engine endpoint, the rules, short intervals. */
export function prometheusConfig(options: PrometheusConfigOptions): string {
  const interval = options.interval ?? '5s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: options.ruleFiles ?? [ALERT_RULES_PATH],
    scrape_configs: options.targets.map((t) => ({
      job_name: t.job,
      metrics_path: t.metricsPath ?? '/metrics',
      static_configs: [{ targets: [t.address] }],
    })),
  };
  return stringify(config);
}

/** The alert that the e2e test's scaled copy makes fire after `stuckSeconds` instead of 30 minutes. */
export const STUCK_ALERT = 'EmailEngineCampaignStuckProcessing';
const STUCK_THRESHOLD = 'email_engine_oldest_processing_campaign_seconds > 1800';

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string }[] }[];
}

/**
 * The rules of alerts.yml with their waits scaled down for a test, by a mechanical rewrite of
 * the parsed file (never a second set of rules): every `for:` becomes 0s, and the stuck alert's
 * `> 1800` becomes `> stuckSeconds`. Thresholds, windows and minimum volumes stay as they are.
 */
export function scaledAlertRules(stuckSeconds: number, source = readFileSync(ALERT_RULES_PATH, 'utf8')): string {
  const file = parse(source) as RuleFile;
  let rewrote = 0;
  for (const group of file.groups) {
    for (const rule of group.rules) {
      if (rule.for !== undefined) rule.for = '0s';
      if (rule.alert === STUCK_ALERT) {
        if (!rule.expr.includes(STUCK_THRESHOLD)) throw new Error(`${STUCK_ALERT} no longer reads "${STUCK_THRESHOLD}"`);
        rule.expr = rule.expr.replace(STUCK_THRESHOLD, `email_engine_oldest_processing_campaign_seconds > ${stuckSeconds}`);
        rewrote++;
      }
    }
  }
  if (rewrote !== 1) throw new Error(`alerts.yml has ${rewrote} ${STUCK_ALERT} rules, expected 1`);
  return stringify(file);
}

/** The engine's scrape targets from its configuration (the worker's, the API's, the Temporal SDK's). */
export function engineScrapeTargets(
  config: {
    PORT: number;
    METRICS_PORT?: number;
    METRICS_HOST: string;
    OPERATOR_TOKEN?: string;
    WORKER_METRICS_PORT?: number;
    WORKER_METRICS_HOST?: string;
    TEMPORAL_METRICS_PORT?: number;
    TEMPORAL_METRICS_HOST?: string;
  },
  log: (line: string) => void = (l) => console.error(l),
): ScrapeTarget[] {
  const targets: ScrapeTarget[] = [];
  if (config.WORKER_METRICS_PORT)
    targets.push({ job: 'worker', address: `${config.WORKER_METRICS_HOST ?? '127.0.0.1'}:${config.WORKER_METRICS_PORT}` });
  if (config.METRICS_PORT) targets.push({ job: 'api', address: `${config.METRICS_HOST}:${config.METRICS_PORT}` });
  // Without METRICS_PORT the API serves /metrics on its own port, to the operator only when
  // OPERATOR_TOKEN is set (a header Prometheus 2.42 cannot send).
  else if (!config.OPERATOR_TOKEN) targets.push({ job: 'api', address: `127.0.0.1:${config.PORT}` });
  else log('Prometheus: OPERATOR_TOKEN is set and METRICS_PORT is not, so the API is not scraped (set METRICS_PORT).');
  if (config.TEMPORAL_METRICS_PORT) {
    targets.push({ job: 'temporal-sdk', address: `${config.TEMPORAL_METRICS_HOST ?? '127.0.0.1'}:${config.TEMPORAL_METRICS_PORT}` });
  }
  return targets;
}

export interface RunningPrometheus {
  url: string;
  configPath: string;
  version: string;
  stop(): Promise<void>;
}

export interface StartPrometheusOptions extends PrometheusConfigOptions {
  /** Where prometheus.yml and the TSDB go. */
  dir: string;
  port: number;
  host?: string;
  log?: (line: string) => void;
}

/** Writes prometheus.yml under `dir` and starts the server; resolves once it is ready. */
export async function startPrometheus(options: StartPrometheusOptions): Promise<RunningPrometheus> {
  const log = options.log ?? ((l: string) => console.error(l));
  const bins = await ensurePrometheus(log);
  const host = options.host ?? '127.0.0.1';
  mkdirSync(options.dir, { recursive: true });
  const configPath = join(options.dir, 'prometheus.yml');
  writeFileSync(configPath, prometheusConfig(options));
  // Checks the rule files as well: a broken alerts.yml fails here, with promtool's reasons.
  await run(bins.promtool, ['check', 'config', configPath]).catch((e: { stdout?: string; stderr?: string }) => {
    throw new Error(`promtool check config ${configPath} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  });
  const url = `http://${host}:${options.port}`;
  const child: ChildProcess = spawn(
    bins.prometheus,
    [
      `--config.file=${configPath}`,
      `--web.listen-address=${host}:${options.port}`,
      `--storage.tsdb.path=${join(options.dir, 'data')}`,
      '--storage.tsdb.retention.time=7d',
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  try {
    await waitUntil(
      'Prometheus',
      async () => {
        if (exited !== undefined) throw new Error(`prometheus exited (${exited}): ${stderr}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      60_000,
      250,
    );
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return { url, configPath, version: bins.version, stop: () => stopProcess(child) };
}
