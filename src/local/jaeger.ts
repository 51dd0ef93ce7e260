// Jaeger for `TRACING=jaeger npm start` (issue 16, item 5): the v2 all-in-one binary (an
// OpenTelemetry collector with Jaeger's in-memory storage and UI), found like the Temporal CLI
// (src/local/temporal-cli.ts): JAEGER_PATH, `jaeger` on PATH, the cached Go build, or a fresh
// build from its Go module into the cache (minutes, once per machine).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { waitUntil } from './ports';
import { stopProcess } from './processes';

export const JAEGER_MODULE = 'github.com/jaegertracing/jaeger';
export const JAEGER_PACKAGE = `${JAEGER_MODULE}/cmd/jaeger`;
// Jaeger v2's binary ships in the v1.x module line (cmd/jaeger).
export const JAEGER_VERSION = 'v1.76.0';

/** The all-in-one defaults: OTLP over HTTP and gRPC, the UI, the health check; all on loopback but the UI. */
export const JAEGER_PORTS = { otlpHttp: 4318, otlpGrpc: 4317, ui: 16686, health: 13133 } as const;

export function jaegerCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'email-engine', `jaeger-${JAEGER_VERSION}`);
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}):\n${stderr}`)),
    );
  });
}

/**
 * `go install module@version` refuses Jaeger (its go.mod has replace directives), so the build
 * happens in a throwaway module of its own that requires it as a tool: `go get -tool`, then
 * `go build` of the package into the cache.
 */
async function buildWithGo(dir: string, log: (line: string) => void): Promise<string> {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  log(`Building Jaeger ${JAEGER_VERSION} with Go into ${dir}. This happens once per machine and takes several minutes.`);
  const started = Date.now();
  const ticker = setInterval(() => log(`  still building Jaeger (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
  const env = { ...process.env, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' };
  try {
    if (!existsSync(join(src, 'go.mod'))) writeFileSync(join(src, 'go.mod'), 'module email-engine/jaeger-build\n\ngo 1.24\n');
    await run('go', ['get', '-tool', `${JAEGER_PACKAGE}@${JAEGER_VERSION}`], src, env);
    await run('go', ['build', '-o', join(dir, 'jaeger'), JAEGER_PACKAGE], src, env);
  } finally {
    clearInterval(ticker);
  }
  log(`Built Jaeger in ${Math.round((Date.now() - started) / 1000)} s.`);
  return join(dir, 'jaeger');
}

export async function findJaeger(
  log: (line: string) => void = (l) => console.error(l),
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (env.JAEGER_PATH) {
    if (!existsSync(env.JAEGER_PATH)) throw new Error(`JAEGER_PATH points to a missing file: ${env.JAEGER_PATH}`);
    return env.JAEGER_PATH;
  }
  const fromPath = onPath('jaeger');
  if (fromPath) return fromPath;
  const cached = join(jaegerCacheDir(), 'jaeger');
  if (existsSync(cached)) return cached;
  try {
    await promisify(execFile)('go', ['version']);
  } catch {
    throw new Error('TRACING=jaeger needs a Jaeger binary (JAEGER_PATH, `jaeger` on PATH) or a Go toolchain to build one');
  }
  return buildWithGo(jaegerCacheDir(), log);
}

export interface RunningJaeger {
  /** Where the engine's processes send spans (OTEL_EXPORTER_OTLP_ENDPOINT). */
  otlpEndpoint: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** Starts Jaeger (in-memory storage: traces last as long as it runs) and waits for its health check. */
export async function startJaeger(log: (line: string) => void = (l) => console.error(l)): Promise<RunningJaeger> {
  const binary = await findJaeger(log);
  // Its own process group: a Ctrl-C reaches the launcher, which stops Jaeger after the worker and
  // the API have flushed their last spans to it.
  const child: ChildProcess = spawn(binary, [], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  child.once('exit', () => (exited = true));
  try {
    await waitUntil(
      'Jaeger',
      async () => {
        if (exited) throw new Error(`Jaeger exited before it was ready:\n${stderr}`);
        const res = await fetch(`http://127.0.0.1:${JAEGER_PORTS.health}/status`).catch(() => undefined);
        return res?.ok === true && ((await res.json()) as { healthy?: boolean }).healthy === true;
      },
      60_000,
    );
  } catch (error) {
    await stopProcess(child);
    throw error;
  }
  return {
    otlpEndpoint: `http://127.0.0.1:${JAEGER_PORTS.otlpHttp}`,
    uiUrl: `http://127.0.0.1:${JAEGER_PORTS.ui}`,
    stop: () => stopProcess(child),
  };
}
