// Runs the engine's own processes (worker, API) as children of the launcher: started with
// tsx, ready when they say so on stderr, stopped with SIGTERM (SIGKILL after 10 s).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

export function startProcess(
  name: string,
  script: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
  echo: (chunk: Buffer) => void = (chunk) => process.stderr.write(chunk),
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'pipe'] });
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
