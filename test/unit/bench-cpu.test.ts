// The bench's CPU figures (issue 18, item 5): /proc/<pid>/stat parsing, samples read between
// phases, and V8 profile summaries, on real /proc lines and a hand-made profile.
import { describe, expect, it } from 'vitest';
import {
  coresBusy,
  cpuSecondsBetween,
  descendants,
  diffSamples,
  parseStat,
  perThousand,
  readStat,
  sampleFrom,
  ticksAt,
  type CpuSample,
} from '../bench/cpu';
import { originOf, parseProfileName, relativePath, summariseProfile, type CpuProfile } from '../bench/cpu-profile';

const statLine = (pid: number, comm: string, ppid: number, utime: number, stime: number, start = 1000) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${utime} ${stime} 7 9 20 0 1 0 ${start} 1000 10 18446744073709551615`;

describe('parseStat', () => {
  it('reads the fields after the last parenthesis, whatever the comm holds', () => {
    const s = parseStat(statLine(42, 'we(ir) d) x', 7, 150, 50));
    expect(s).toMatchObject({
      pid: 42,
      comm: 'we(ir) d) x',
      state: 'S',
      ppid: 7,
      utime: 150,
      stime: 50,
      cutime: 7,
      cstime: 9,
      starttime: 1000,
    });
  });

  it('reads this process as the kernel writes it', () => {
    const self = readStat(process.pid)!;
    expect(self.pid).toBe(process.pid);
    expect(self.ppid).toBe(process.ppid);
    expect(self.utime + self.stime).toBeGreaterThan(0);
  });

  it('refuses a line that is not one', () => {
    expect(() => parseStat('nonsense')).toThrow(/not a \/proc/);
    expect(() => parseStat('1 (x) S 0')).toThrow(/without field/);
  });
});

describe('samples', () => {
  const all = [
    parseStat(statLine(10, 'a', 1, 0, 0)),
    parseStat(statLine(11, 'b', 10, 0, 0)),
    parseStat(statLine(12, 'c', 11, 0, 0)),
    parseStat(statLine(13, 'd', 1, 0, 0)),
  ];

  it('finds every descendant, nearest first, and none of the rest', () => {
    expect(descendants(10, all).map((p) => p.pid)).toEqual([11, 12]);
  });

  const at = (t: number, worker: number | null, start = 1000): CpuSample => ({
    at: t,
    ticks: { worker },
    starts: { worker: worker === null ? null : start },
  });

  it('interpolates between the samples around a moment, and holds the ends outside them', () => {
    const samples = [at(0, 0), at(1000, 100), at(2000, 300)];
    expect(ticksAt(samples, 'worker', 500)!.ticks).toBe(50);
    expect(ticksAt(samples, 'worker', 1500)!.ticks).toBe(200);
    expect(ticksAt(samples, 'worker', -5)!.ticks).toBe(0);
    expect(ticksAt(samples, 'worker', 9999)!.ticks).toBe(300);
    expect(cpuSecondsBetween(samples, 500, 1500, 100)).toEqual({ worker: 1.5 });
  });

  it('gives no figure for a process that ended, or a pid another process took', () => {
    expect(diffSamples(at(0, 10), at(1000, null), 100)).toEqual({ worker: null });
    expect(diffSamples(at(0, 10, 1000), at(1000, 20, 2000), 100)).toEqual({ worker: null });
    expect(diffSamples(at(0, 10), at(1000, 30), 100)).toEqual({ worker: 0.2 });
    expect(cpuSecondsBetween([at(0, 0, 1), at(1000, 50, 2)], 0, 1000, 100)).toEqual({ worker: null });
  });

  it('builds a sample from the stats read, children only when asked', () => {
    const stat = parseStat(statLine(5, 'w', 1, 30, 20));
    const s = sampleFrom(
      [
        { name: 'w', pid: 5 },
        { name: 'w+children', pid: 5, withChildren: true },
        { name: 'gone', pid: 6 },
      ],
      (pid) => (pid === 5 ? stat : undefined),
      123,
    );
    expect(s).toEqual({ at: 123, ticks: { w: 50, 'w+children': 66, gone: null }, starts: { w: 1000, 'w+children': 1000, gone: null } });
  });

  it('puts figures per 1,000 and in cores busy', () => {
    expect(perThousand(12, 10_000)).toBe(1.2);
    expect(perThousand(null, 10)).toBeNull();
    expect(perThousand(3, 0)).toBeNull();
    expect(coresBusy({ a: 3, b: 1, c: null }, 2)).toBe(2);
    expect(coresBusy({ a: 3 }, 0)).toBeNull();
  });
});

describe('profile summaries', () => {
  const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
  // root → program, idle, gc, f (under root) and g (under f); samples 100 µs apart.
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 5] },
      { id: 2, callFrame: frame('(program)', '') },
      { id: 3, callFrame: frame('(idle)', '') },
      { id: 4, callFrame: frame('(garbage collector)', '') },
      { id: 5, callFrame: frame('send', 'file:///repo/src/a.ts', 9), children: [6] },
      { id: 6, callFrame: frame('parse', 'file:///repo/node_modules/@scope/pkg/x.js', 2) },
    ],
    startTime: 0,
    endTime: 1000,
    // At 0, 100, …, 900 µs: idle ×4, parse ×3, send ×2, gc ×1.
    samples: [3, 3, 6, 6, 6, 5, 5, 4, 3, 3],
    timeDeltas: [0, 100, 100, 100, 100, 100, 100, 100, 100, 100],
  };

  it('ranks functions by self time, and says how much was idle, program and GC', () => {
    const s = summariseProfile(profile, { root: '/repo' });
    expect(s.samples).toBe(10);
    expect(s.sampled_ms).toBe(1);
    expect(s.idle_percent).toBe(40);
    expect(s.gc_percent).toBe(10);
    expect(s.top.map((f) => [f.function, f.self_ms, f.percent])).toEqual([
      ['parse', 0.3, 30],
      ['send', 0.2, 20],
      ['(garbage collector)', 0.1, 10],
    ]);
    expect(s.top[1]!.location).toBe('src/a.ts:10');
    expect(s.by_origin.find((o) => o.origin === 'node_modules/@scope/pkg')?.percent).toBe(30);
  });

  it('keeps to the window it is given', () => {
    const s = summariseProfile(profile, { root: '/repo', from: 200, to: 700 });
    expect(s.samples).toBe(5);
    expect(s.idle_percent).toBe(0);
    expect(s.top.map((f) => [f.function, f.percent])).toEqual([
      ['parse', 60],
      ['send', 40],
    ]);
  });

  it('names files and origins', () => {
    expect(parseProfileName('CPU.20261203.061500.4242.0.001.cpuprofile')).toEqual({ pid: 4242, thread: 0 });
    expect(parseProfileName('notes.txt')).toBeUndefined();
    expect(relativePath('file:///repo/api/main.ts', '/repo')).toBe('api/main.ts');
    expect(originOf('node:internal/streams')).toBe('node (built-in)');
    expect(originOf('node_modules/ulid/dist/index.js')).toBe('node_modules/ulid');
    expect(originOf('src/events/x.ts')).toBe('src/events');
  });
});
