// CPU seconds per process for `npm run bench` (issue 18, item 5): each process's utime + stime
// from /proc/<pid>/stat (every thread of the process; the JVMs' GC and JIT threads, the Temporal
// core's Rust threads and libuv's pool included), sampled through the run and read at the
// campaign's phase changes. The parsing and arithmetic are pure, so
// test/unit/bench-cpu.test.ts checks them on real /proc lines.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/stat the bench uses (proc(5)); times in clock ticks. */
export interface ProcStat {
  pid: number;
  /** Field 2, without its parentheses; the kernel keeps its first 15 bytes, spaces and parentheses included. */
  comm: string;
  state: string;
  ppid: number;
  /** Fields 14–17: this process's user and system time, and those of its children it waited for. */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  /** Field 22, ticks after boot: with the pid, names one process even if the pid is reused. */
  starttime: number;
}

/**
 * One /proc/<pid>/stat line. The comm may hold spaces and parentheses (`(we(ir) d) x)`), so the
 * fields are counted from after the last `)`: what follows it is field 3 (the state) onwards.
 */
export function parseStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  const rest = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3, so field n is rest[n - 3].
  const field = (n: number) => {
    const value = rest[n - 3];
    if (value === undefined) throw new Error(`/proc/<pid>/stat line without field ${n}: ${line.slice(0, 80)}`);
    return value;
  };
  const num = (n: number) => Number(field(n));
  return {
    pid: Number(line.slice(0, open).trim()),
    comm: line.slice(open + 1, close),
    state: field(3),
    ppid: num(4),
    utime: num(14),
    stime: num(15),
    cutime: num(16),
    cstime: num(17),
    starttime: num(22),
  };
}

let clockTick: number | undefined;
/** Clock ticks per second (USER_HZ, 100 on Linux), asked of `getconf CLK_TCK` once; 100 if that fails. */
export function clockTicksPerSecond(): number {
  if (clockTick === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTick = Number.isFinite(n) && n > 0 ? n : 100;
    } catch {
      clockTick = 100;
    }
  }
  return clockTick;
}

/** A process's stat, or undefined once it is gone (or was never there). */
export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Every process's stat now (those that end while the list is read are left out). */
export function listProcesses(): ProcStat[] {
  const all: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.push(stat);
  }
  return all;
}

/** The descendants of `root` (children, their children…) among `all`, by ppid, nearest first. */
export function descendants(root: number, all: ProcStat[]): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const p of all) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const found: ProcStat[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of byParent.get(pid) ?? []) {
      if (child.pid === root || found.includes(child)) continue;
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** A process's command line (arguments split at NULs), empty once it is gone. */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * A process to measure. `withChildren` adds the children it waited for (cutime, cstime): only for
 * a wrapper whose work runs in children that end (none of the bench's processes is one: each is
 * measured where its work runs, see engine.bench.ts).
 */
export interface Tracked {
  name: string;
  pid: number;
  withChildren?: boolean;
}

/** CPU ticks per tracked process at one moment; null for a process that is gone (or a pid reused). */
export interface CpuSample {
  /** Epoch ms. */
  at: number;
  ticks: Record<string, number | null>;
  /** Each process's starttime, so a pid taken over by another process is not read as the same one. */
  starts: Record<string, number | null>;
}

export const cpuTicks = (stat: ProcStat, withChildren = false) => stat.utime + stat.stime + (withChildren ? stat.cutime + stat.cstime : 0);

/** Builds a sample from the stats read (undefined: gone). Pure: `sample` reads /proc for it. */
export function sampleFrom(tracked: Tracked[], read: (pid: number) => ProcStat | undefined, at: number): CpuSample {
  const ticks: CpuSample['ticks'] = {};
  const starts: CpuSample['starts'] = {};
  for (const t of tracked) {
    const stat = read(t.pid);
    ticks[t.name] = stat ? cpuTicks(stat, t.withChildren) : null;
    starts[t.name] = stat ? stat.starttime : null;
  }
  return { at, ticks, starts };
}

export const sample = (tracked: Tracked[], at = Date.now()): CpuSample => sampleFrom(tracked, readStat, at);

/** CPU seconds per process from `a` to `b`; null for a process missing from either (or not the same process). */
export function diffSamples(a: CpuSample, b: CpuSample, hz: number): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const name of Object.keys(b.ticks)) {
    const [from, to] = [a.ticks[name], b.ticks[name]];
    const same = a.starts[name] !== undefined && a.starts[name] === b.starts[name];
    out[name] = from === null || from === undefined || to === null || to === undefined || !same ? null : (to - from) / hz;
  }
  return out;
}

/**
 * One process's ticks at time `t` (epoch ms) from samples in time order: linear between the two
 * samples around `t` (the process's CPU taken to grow evenly between them), the first or last
 * sample's outside them. Null if a sample needed is missing the process.
 */
export function ticksAt(samples: CpuSample[], name: string, t: number): { ticks: number; start: number } | null {
  if (samples.length === 0) return null;
  const value = (s: CpuSample) => {
    const [ticks, start] = [s.ticks[name], s.starts[name]];
    return ticks === null || ticks === undefined || start === null || start === undefined ? null : { ticks, start };
  };
  if (t <= samples[0]!.at) return value(samples[0]!);
  const last = samples[samples.length - 1]!;
  if (t >= last.at) return value(last);
  const i = samples.findIndex((s) => s.at >= t);
  const [before, after] = [samples[i - 1]!, samples[i]!];
  const [x, y] = [value(before), value(after)];
  if (!x || !y || x.start !== y.start) return null;
  const f = after.at === before.at ? 1 : (t - before.at) / (after.at - before.at);
  return { ticks: x.ticks + (y.ticks - x.ticks) * f, start: x.start };
}

/** CPU seconds per process between two moments, read from the samples with `ticksAt`. */
export function cpuSecondsBetween(samples: CpuSample[], from: number, to: number, hz: number): Record<string, number | null> {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.ticks)))];
  return Object.fromEntries(
    names.map((name) => {
      const [a, b] = [ticksAt(samples, name, from), ticksAt(samples, name, to)];
      return [name, a && b && a.start === b.start ? (b.ticks - a.ticks) / hz : null];
    }),
  );
}

/** `value` per 1,000 of `count`, to `digits` decimals; null without a value or a count. */
export function perThousand(value: number | null | undefined, count: number, digits = 3): number | null {
  if (value === null || value === undefined || !(count > 0)) return null;
  return Number(((value / count) * 1000).toFixed(digits));
}

/** Total CPU seconds over wall seconds: how many cores the processes kept busy on average. */
export function coresBusy(cpuSeconds: Record<string, number | null>, wallSeconds: number, digits = 2): number | null {
  if (!(wallSeconds > 0)) return null;
  const total = Object.values(cpuSeconds).reduce<number>((sum, s) => sum + (s ?? 0), 0);
  return Number((total / wallSeconds).toFixed(digits));
}
