// A genuine OpenSearch single node for local development and tests: the official
// integ-test distribution zip from Maven Central (fetched once per machine with `mvn`),
// run as a child process with its own config, data and logs, and stopped without orphans.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { freePort } from './ports';

// 2.19.x runs on the machine's Java 17; 3.x needs Java 21+. Override with OPENSEARCH_VERSION.
export const OPENSEARCH_DEFAULT_VERSION = '2.19.6';
// The zip OpenSearch's own build publishes for integration tests: the real server with the
// netty4 HTTP transport (2.x) or all modules (3.x), no bundled JDK and no security plugin.
const ARTIFACT_GROUP = 'org.opensearch.distribution.integ-test-zip';
const READY_TIMEOUT_MS = 120_000;
const KILL_AFTER_MS = 15_000;
// OpenSearch refuses to run as root; when we are root the JVM runs as this user instead.
const NOBODY = 65534;

type Log = (line: string) => void;
const defaultLog: Log = (line) => console.error(line);

export interface OpenSearchDistribution {
  home: string;
  javaHome?: string;
  version: string;
}

export interface StartOpenSearchOptions {
  port: number;
  dataDir: string;
  log?: Log;
  version?: string;
  /** -Xms/-Xmx; 512m is plenty for a development node. */
  heap?: string;
  /** Extra node settings written to opensearch.yml (e.g. thread pool sizes in tests). */
  settings?: Record<string, string | number | boolean>;
}

export interface RunningOpenSearch {
  url: string;
  pid: number;
  version: string;
  startupMs: number;
  rssBytes?: number;
  stop(): Promise<void>;
}

export function openSearchCacheDir(version: string): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'email-engine', `opensearch-${version}`);
}

const isComplete = (home: string, version: string) =>
  existsSync(join(home, 'bin', 'opensearch')) && existsSync(join(home, 'lib', `opensearch-${version}.jar`));

/** Fetches (once) and unpacks the distribution; finds a JDK the version can run on. */
export async function ensureOpenSearchDistribution(
  log: Log = defaultLog,
  opts: { version?: string } = {},
): Promise<OpenSearchDistribution> {
  const version = opts.version ?? process.env.OPENSEARCH_VERSION ?? OPENSEARCH_DEFAULT_VERSION;
  const home = openSearchCacheDir(version);
  if (!isComplete(home, version)) await fetchDistribution(version, home, log);
  const javaHome = findJavaHome(version, log);
  if (!javaHome) {
    const [min, max] = javaRange(version);
    throw new Error(
      `OpenSearch ${version} needs a JDK ${min}${max < 99 ? `-${max}` : '+'}: set OPENSEARCH_JAVA_HOME ` +
        '(checked OPENSEARCH_JAVA_HOME, JAVA_HOME, java on PATH and /usr/lib/jvm).',
    );
  }
  return { home, javaHome, version };
}

async function fetchDistribution(version: string, home: string, log: Log): Promise<void> {
  const artifact = `${ARTIFACT_GROUP}:opensearch:${version}:zip`;
  // Unpack beside the final folder and rename it into place, so an interrupted fetch
  // never leaves a half distribution that looks complete.
  const partial = `${home}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  log(`Fetching OpenSearch ${version} (${artifact}) from Maven Central into ${home}. This happens once per machine.`);
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  const ticker = setInterval(() => log(`  still fetching OpenSearch ${version} (${seconds()} s)`), 15_000);
  try {
    await run('mvn', ['-B', 'dependency:copy', `-Dartifact=${artifact}`, `-DoutputDirectory=${partial}`], (line) => {
      // Maven's own plugins download first on a fresh ~/.m2; only the distribution is worth a line.
      if (/Downloaded from.*opensearch-|ERROR/.test(line)) log(`  mvn: ${line.replace(/^\[\w+\]\s*/, '')}`);
    });
    const zip = join(partial, `opensearch-${version}.zip`);
    log(`  unpacking ${zip}`);
    if (onPath('unzip')) await run('unzip', ['-q', zip, '-d', partial]);
    else await run('jar', ['xf', zip], undefined, partial); // jar drops the exec bits: restored below
    const bin = join(partial, `opensearch-${version}`, 'bin');
    for (const name of readdirSync(bin)) chmodSync(join(bin, name), 0o755);
    try {
      renameSync(join(partial, `opensearch-${version}`), home);
    } catch (error) {
      if (!isComplete(home, version)) throw error; // another process won the race: fine
    }
    log(`Fetched and unpacked OpenSearch ${version} in ${seconds()} s.`);
  } finally {
    clearInterval(ticker);
    rmSync(partial, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[], onLine?: (line: string) => void, cwd?: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const feed = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
      for (const line of chunk.toString().split('\n')) if (line.trim()) onLine?.(line.trim());
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('error', (error) => reject(new Error(`${cmd} is needed to fetch OpenSearch from Maven Central: ${error.message}`)));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} failed (exit ${code}):\n${tail}`))));
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** 2.x enables the Java Security Manager, which JDK 24 removed; 3.x requires JDK 21. */
function javaRange(version: string): [number, number] {
  return Number(version.split('.')[0]) >= 3 ? [21, 99] : [11, 23];
}

function javaMajor(javaHome: string): number | undefined {
  try {
    const match = /JAVA_VERSION="(?:1\.)?(\d+)/.exec(readFileSync(join(javaHome, 'release'), 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function findJavaHome(version: string, log: Log): string | undefined {
  const [min, max] = javaRange(version);
  const candidates: string[] = [];
  for (const v of [process.env.OPENSEARCH_JAVA_HOME, process.env.JAVA_HOME]) if (v) candidates.push(v);
  const java = onPath('java');
  if (java) candidates.push(dirname(dirname(realpathSync(java))));
  for (const root of ['/usr/lib/jvm', '/Library/Java/JavaVirtualMachines']) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort().reverse()) {
      candidates.push(existsSync(join(root, name, 'Contents', 'Home')) ? join(root, name, 'Contents', 'Home') : join(root, name));
    }
  }
  for (const candidate of candidates) {
    const major = javaMajor(candidate);
    if (major !== undefined && major >= min && major <= max && existsSync(join(candidate, 'bin', 'java'))) return candidate;
    if (candidate === process.env.OPENSEARCH_JAVA_HOME) {
      log(`OPENSEARCH_JAVA_HOME (${candidate}, Java ${major ?? '?'}) cannot run OpenSearch ${version}; looking further.`);
    }
  }
  return undefined;
}

/** The distribution's jvm.options with our heap and every relative path made absolute. */
function jvmOptions(home: string, logs: string, heap: string): string {
  return readFileSync(join(home, 'config', 'jvm.options'), 'utf8')
    .replace(/^-Xms\S+$/m, `-Xms${heap}`)
    .replace(/^-Xmx\S+$/m, `-Xmx${heap}`)
    .replace(/(file=|ErrorFile=|Xloggc:)logs\//g, `$1${logs}/`)
    .replace(/HeapDumpPath=data\b/, `HeapDumpPath=${logs}`)
    .replace(/-javaagent:agent\//g, `-javaagent:${home}/agent/`);
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** Hard links (copies across file systems) of a distribution; files keep root's 644 modes. */
function mirrorTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  chmodSync(to, 0o755);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const [src, dest] = [join(from, entry.name), join(to, entry.name)];
    if (entry.isDirectory()) mirrorTree(src, dest);
    else if (!existsSync(dest)) {
      try {
        linkSync(src, dest);
      } catch {
        copyFileSync(src, dest);
      }
    }
  }
}

const hasSetpriv = () => !spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).error;

interface Launch {
  cmd: string;
  args: string[];
  home: string;
  uid?: number;
}

/** The command that runs bin/opensearch: as a non-root user when we are root, and tied to our life. */
function launcher(home: string, version: string, dataDir: string, ownDirs: string[], log: Log): Launch {
  const setpriv = hasSetpriv();
  // --pdeathsig: if this Node process dies (even SIGKILL), the kernel sends the JVM SIGTERM.
  const tie = setpriv ? ['--pdeathsig', 'TERM'] : [];
  if (process.getuid?.() !== 0) {
    const script = join(home, 'bin', 'opensearch');
    return setpriv ? { cmd: 'setpriv', args: [...tie, '--', script], home } : { cmd: script, args: [], home };
  }
  // OpenSearch refuses root outright (no override in 2.x/3.x), so the JVM runs as another user.
  if (!setpriv) throw new Error('Running as root: OpenSearch refuses root and setpriv (util-linux) is not available.');
  const uid = Number(process.env.OPENSEARCH_RUN_AS_UID ?? NOBODY);
  const gid = Number(process.env.OPENSEARCH_RUN_AS_GID ?? uid);
  const user = ['--reuid', String(uid), '--regid', String(gid), '--clear-groups'];
  for (const dir of ownDirs) chownTree(dir, uid, gid);
  // mkdtemp makes 0700 folders; the JVM's user must at least traverse the data dir.
  chmodSync(dataDir, statSync(dataDir).mode | 0o011);
  // Same access(2) checks the JVM makes (Files.exists); capabilities would not pass them.
  const canUse = (h: string) =>
    spawnSync('setpriv', [...user, 'test', '-r', join(h, 'lib', `opensearch-${version}.jar`), '-a', '-w', ownDirs[0]!]).status === 0;
  if (!canUse(home)) {
    // The cache is under /root (mode 700): rather than loosening /root, mirror the distribution
    // into the data dir with hard links, which cost nothing and keep the files read-only.
    const mirror = join(dataDir, `opensearch-${version}`);
    mirrorTree(home, mirror);
    home = mirror;
    if (!canUse(home)) throw new Error(`uid ${uid} cannot reach ${dataDir}; choose a data dir outside root-only folders.`);
  }
  log(`Running as root: the OpenSearch JVM runs as uid ${uid} from ${home}.`);
  return { cmd: 'setpriv', args: [...user, ...tie, '--', join(home, 'bin', 'opensearch')], home, uid };
}

function readRss(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function startOpenSearch(opts: StartOpenSearchOptions): Promise<RunningOpenSearch> {
  const log = opts.log ?? defaultLog;
  const dist = await ensureOpenSearchDistribution(log, { version: opts.version });
  const dataDir = resolve(opts.dataDir);
  const dirs = { config: join(dataDir, 'config'), data: join(dataDir, 'data'), logs: join(dataDir, 'logs'), tmp: join(dataDir, 'tmp') };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  mkdirSync(join(dirs.config, 'jvm.options.d'), { recursive: true });

  const settings: Record<string, string | number | boolean> = {
    'cluster.name': 'email-engine-local',
    'node.name': 'local',
    'discovery.type': 'single-node',
    'network.host': '127.0.0.1',
    'http.port': opts.port,
    'transport.port': await freePort(),
    'path.data': dirs.data,
    'path.logs': dirs.logs,
    'bootstrap.memory_lock': false,
    // A developer disk past 90 % would otherwise turn every index read-only.
    'cluster.routing.allocation.disk.threshold_enabled': false,
    ...opts.settings,
  };
  writeFileSync(
    join(dirs.config, 'opensearch.yml'),
    Object.entries(settings)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n',
  );
  copyFileSync(join(dist.home, 'config', 'log4j2.properties'), join(dirs.config, 'log4j2.properties'));
  const consoleLog = join(dirs.logs, 'console.log');
  writeFileSync(consoleLog, '');

  const { cmd, args, uid, home } = launcher(dist.home, dist.version, dataDir, Object.values(dirs), log);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENSEARCH_JAVA_HOME: dist.javaHome,
    OPENSEARCH_PATH_CONF: dirs.config,
    OPENSEARCH_TMPDIR: dirs.tmp,
    // Pre-touching the whole heap costs ~400 MB of RSS and a second of start-up for nothing here.
    OPENSEARCH_JAVA_OPTS: ['-XX:-AlwaysPreTouch', process.env.OPENSEARCH_JAVA_OPTS].filter(Boolean).join(' '),
  };
  delete env.JAVA_TOOL_OPTIONS;
  writeFileSync(join(dirs.config, 'jvm.options'), jvmOptions(home, dirs.logs, opts.heap ?? '512m'));
  const started = Date.now();
  const out = openSync(consoleLog, 'a');
  const child = spawn(cmd, args, { cwd: home, env, stdio: ['ignore', out, out] });
  closeSync(out);
  let exited = false;
  const exitedPromise = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  child.once('error', () => (exited = true));
  // Covers platforms without setpriv --pdeathsig and ordinary exits of this process.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exitedPromise.then(() => process.removeListener('exit', killOnExit));

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      child.kill('SIGTERM');
      await exitedPromise;
      clearTimeout(timer);
    })());

  const url = `http://127.0.0.1:${opts.port}`;
  try {
    while (true) {
      if (exited || child.pid === undefined) throw new Error(`OpenSearch exited during start-up; last output:\n${tail(consoleLog)}`);
      if (Date.now() - started > READY_TIMEOUT_MS)
        throw new Error(`OpenSearch not ready after ${READY_TIMEOUT_MS / 1000} s:\n${tail(consoleLog)}`);
      const health = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=1s`, { signal: AbortSignal.timeout(3000) })
        .then((r) => (r.ok ? (r.json() as Promise<{ status?: string }>) : undefined))
        .catch(() => undefined);
      if (health?.status === 'yellow' || health?.status === 'green') break;
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const startupMs = Date.now() - started;
  const rssBytes = readRss(child.pid);
  log(
    `OpenSearch ${dist.version} ready at ${url} in ${(startupMs / 1000).toFixed(1)} s ` +
      `(pid ${child.pid}${uid !== undefined ? `, uid ${uid}` : ''}, Java ${javaMajor(dist.javaHome!) ?? '?'}` +
      `${rssBytes ? `, RSS ${Math.round(rssBytes / 2 ** 20)} MB` : ''}).`,
  );
  return { url, pid: child.pid, version: dist.version, startupMs, rssBytes, stop };
}
