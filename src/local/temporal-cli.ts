// Finds the official `temporal` CLI for the embedded dev server, building it once per
// machine from its Go module when nothing else is available.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
// Newest release whose go.mod has no replace directive, so `go install` can build it.
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export type TemporalCliSource = 'env' | 'path' | 'cache' | 'built' | 'sdk-download';

export interface TemporalCli {
  path: string | undefined; // undefined: let the SDK download one (needs internet)
  source: TemporalCliSource;
}

export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'email-engine', `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function hasGo(): Promise<boolean> {
  try {
    await promisify(execFile)('go', ['version']);
    return true;
  } catch {
    return false;
  }
}

/** Builds the CLI with `go install` into the cache folder; prints progress because it takes minutes. */
async function buildWithGo(dir: string, log: (line: string) => void): Promise<string> {
  mkdirSync(dir, { recursive: true });
  log(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${dir}. ` +
      'This happens once per machine and may take several minutes.',
  );
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('go', ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...process.env, GOBIN: dir, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const ticker = setInterval(() => log(`  still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`go install of the Temporal CLI failed (exit ${code}):\n${stderr}`));
    });
  });
  log(`Built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s.`);
  return join(dir, 'temporal');
}

/**
 * Order: TEMPORAL_CLI_PATH, `temporal` on PATH, the cached Go build, a fresh Go build,
 * and last the SDK's own download (machines with internet and no Go).
 */
export async function findTemporalCli(
  log: (line: string) => void = (l) => console.error(l),
  env: NodeJS.ProcessEnv = process.env,
): Promise<TemporalCli> {
  const fromEnv = env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH points to a missing file: ${fromEnv}`);
    return { path: fromEnv, source: 'env' };
  }
  const fromPath = onPath('temporal');
  if (fromPath) return { path: fromPath, source: 'path' };
  const cached = join(cacheDir(), 'temporal');
  if (existsSync(cached)) return { path: cached, source: 'cache' };
  if (await hasGo()) return { path: await buildWithGo(cacheDir(), log), source: 'built' };
  log('No Temporal CLI and no Go toolchain: falling back to the SDK download (needs internet).');
  return { path: undefined, source: 'sdk-download' };
}
