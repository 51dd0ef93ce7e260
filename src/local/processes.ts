// Runs the engine's own processes (worker, API) as children of the launcher: started with
// tsx, ready when they say so on stderr, stopped with SIGTERM (SIGKILL after 10 s).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * Node flags per engine script. The worker's old space is capped: on a big host V8 otherwise
 * grows the heap lazily by hundreds of MB under load before collecting, while the worker's live
 * heap stays far below this (it streams files and sends one chunk per activity).
 */
export const NODE_ARGS: Record<string, string[]> = { 'workers/main.ts': ['--max-old-space-size=200'] };

export function startProcess(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  echo: (chunk: Buffer) => void = (chunk) => process.stderr.write(chunk),
  /** 'echo': stdout (where the Temporal core logs) goes to `echo` too instead of this process's stdout. */
  stdout: 'inherit' | 'echo' = 'inherit',
  /** Node flags added to NODE_ARGS' for this one start (the bench's `--cpu-prof`, which NODE_OPTIONS does not take). */
  nodeArgs: string[] = [],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(NODE_ARGS[script] ?? []), ...nodeArgs, '--import', 'tsx', join(ROOT, script)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', stdout === 'echo' ? 'pipe' : 'inherit', 'pipe'],
  });
  child.stdout?.on('data', echo);
  return new Promise((resolve, reject) => {
    let seen: string | undefined = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      echo(chunk);
      if (seen === undefined) return;
      seen += chunk.toString();
      if (ready.test(seen)) {
        seen = undefined;
        resolve(child);
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
}

export function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
