// The bench's `--profile DIR` (issue 18, item 5): V8 CPU profiles (.cpuprofile, as `node
// --cpu-prof` writes them and the inspector's Profiler.stop returns them) summarised as the
// functions that took the most self time, optionally within a window of the run. The
// summariser is pure (test/unit/bench-cpu.test.ts checks it on a hand-made profile); the tsx
// source-map resolver reads tsx's on-disk cache, because tsx runs the project's TypeScript as
// whitespace-minified JavaScript, so V8's own lines for a .ts file are all 1 or 2.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CallFrame {
  functionName: string;
  scriptId?: string;
  url: string;
  /** 0-based, in the code V8 ran. */
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

/** Chrome DevTools' profile format (`Profiler.Profile`): times in microseconds of the monotonic clock. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  /** The node on top of the stack at each sample. */
  samples?: number[];
  /** Microseconds from the previous sample (the first: from startTime). */
  timeDeltas?: number[];
}

/** A source position from a generated one (0-based in, 1-based line out); undefined: keep V8's. */
export type ResolveLocation = (url: string, line: number, column: number) => { file: string; line: number } | undefined;

export interface FunctionSelfTime {
  function: string;
  /** `path:line` relative to the project (node_modules/… for a dependency, node:… for Node's own). */
  location: string;
  self_ms: number;
  /** Of all samples in the window, idle ones included. */
  percent: number;
}

export interface ProfileSummary {
  /** Time the samples in the window cover. */
  sampled_ms: number;
  samples: number;
  /** V8's pseudo-frames: waiting for work, its own code outside JS (compiling, the C++ of Node's APIs), collecting. */
  idle_percent: number;
  program_percent: number;
  gc_percent: number;
  top: FunctionSelfTime[];
  /** Self time by where the code lives: a package, a project folder, Node's own, or a pseudo-frame. */
  by_origin: { origin: string; self_ms: number; percent: number }[];
}

const PSEUDO = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);

/** Each sample's node, time (µs) and duration: until the next sample, the last until endTime. */
export function sampleTimes(profile: CpuProfile): { node: number; at: number; us: number }[] {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const out: { node: number; at: number; us: number }[] = [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    out.push({ node: samples[i]!, at, us: 0 });
  }
  for (let i = 0; i < out.length; i++) out[i]!.us = Math.max(0, (out[i + 1]?.at ?? profile.endTime) - out[i]!.at);
  return out;
}

/** A script url as a path relative to `root` (file:// URLs and absolute paths alike). */
export function relativePath(url: string, root: string): string {
  if (!url) return '';
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      path = url.slice('file://'.length);
    }
  }
  const base = root.endsWith('/') ? root : `${root}/`;
  return path.startsWith(base) ? path.slice(base.length) : path;
}

/** Where a (relative) path's code comes from: `node_modules/<package>`, `node:*`, or its project folder. */
export function originOf(path: string): string {
  if (!path) return '(native)';
  if (path.startsWith('node:')) return 'node (built-in)';
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const [scope = '', name = ''] = path.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${scope.startsWith('@') ? `${scope}/${name}` : scope}`;
  }
  if (path.startsWith('/')) return path.split('/').slice(0, -1).join('/') || '/';
  const dir = path.split('/').slice(0, -1);
  return dir.length ? dir.join('/') : '.';
}

const round = (n: number, d: number) => Number(n.toFixed(d));

/**
 * The functions with the most self time (samples with the function on top of the stack, each
 * counted for its duration), over the whole profile or the samples in [from, to) (µs of the
 * profile's clock). A function that appears under several callers is one entry. Without
 * per-sample data (hitCount only), the profile's time is shared out by hits and the window is
 * ignored.
 */
export function summariseProfile(
  profile: CpuProfile,
  opts: { root: string; from?: number; to?: number; top?: number; resolve?: ResolveLocation },
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Per node: samples and µs in the window.
  const hits = new Map<number, { n: number; us: number }>();
  const add = (id: number, n: number, us: number) => {
    const h = hits.get(id) ?? { n: 0, us: 0 };
    h.n += n;
    h.us += us;
    hits.set(id, h);
  };
  if (profile.samples?.length) {
    for (const s of sampleTimes(profile)) {
      if ((opts.from !== undefined && s.at < opts.from) || (opts.to !== undefined && s.at >= opts.to)) continue;
      add(s.node, 1, s.us);
    }
  } else {
    const total = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0);
    const us = total > 0 ? (profile.endTime - profile.startTime) / total : 0;
    for (const n of profile.nodes) if (n.hitCount) add(n.id, n.hitCount, n.hitCount * us);
  }
  let samples = 0;
  let sampledUs = 0;
  for (const h of hits.values()) {
    samples += h.n;
    sampledUs += h.us;
  }
  const percent = (n: number) => (samples > 0 ? round((n / samples) * 100, 2) : 0);
  const functions = new Map<string, { name: string; location: string; origin: string; n: number; us: number }>();
  for (const [id, h] of hits) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const pseudo = PSEUDO.has(frame.functionName) && !frame.url;
    const path = relativePath(frame.url, opts.root);
    const mapped = pseudo || !frame.url ? undefined : opts.resolve?.(frame.url, frame.lineNumber, frame.columnNumber);
    const file = mapped ? relativePath(mapped.file, opts.root) : path;
    const location = pseudo ? '' : file ? `${file}:${mapped ? mapped.line : frame.lineNumber + 1}` : '(native)';
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\0${location}\0${frame.url}:${frame.lineNumber}:${frame.columnNumber}`;
    const f = functions.get(key) ?? { name, location, origin: pseudo ? name : originOf(file), n: 0, us: 0 };
    f.n += h.n;
    f.us += h.us;
    functions.set(key, f);
  }
  const list = [...functions.values()].sort((a, b) => b.us - a.us || b.n - a.n);
  const pseudoShare = (name: string) => percent(list.filter((f) => f.name === name && !f.location).reduce((sum, f) => sum + f.n, 0));
  const origins = new Map<string, { n: number; us: number }>();
  for (const f of list) {
    const o = origins.get(f.origin) ?? { n: 0, us: 0 };
    o.n += f.n;
    o.us += f.us;
    origins.set(f.origin, o);
  }
  return {
    sampled_ms: round(sampledUs / 1000, 1),
    samples,
    idle_percent: pseudoShare('(idle)'),
    program_percent: pseudoShare('(program)'),
    gc_percent: pseudoShare('(garbage collector)'),
    top: list
      .filter((f) => f.name !== '(idle)' || f.location)
      .slice(0, opts.top ?? 20)
      .map((f) => ({ function: f.name, location: f.location, self_ms: round(f.us / 1000, 1), percent: percent(f.n) })),
    by_origin: [...origins]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 12)
      .map(([origin, o]) => ({ origin, self_ms: round(o.us / 1000, 1), percent: percent(o.n) })),
  };
}

/** The summary as text lines: one per function, self ms and share, then the origins. */
export function formatSummary(title: string, s: ProfileSummary): string {
  const pad = (text: string, n: number) => (text.length >= n ? text : text + ' '.repeat(n - text.length));
  const lines = [
    `${title}: ${s.samples} samples over ${(s.sampled_ms / 1000).toFixed(1)} s; idle ${s.idle_percent} %, ` +
      `program ${s.program_percent} %, GC ${s.gc_percent} %`,
    `  ${pad('self ms', 9)} ${pad('%', 6)} function (location)`,
    ...s.top.map(
      (f) => `  ${pad(f.self_ms.toFixed(1), 9)} ${pad(f.percent.toFixed(2), 6)} ${f.function}${f.location ? ` (${f.location})` : ''}`,
    ),
    `  by origin: ${s.by_origin.map((o) => `${o.origin} ${o.percent} %`).join(', ')}`,
  ];
  return lines.join('\n');
}

/** A profile's file name from `--cpu-prof`: CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile. */
export function parseProfileName(name: string): { pid: number; thread: number } | undefined {
  const m = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(name);
  return m ? { pid: Number(m[1]), thread: Number(m[2]) } : undefined;
}

/** The .cpuprofile files in `dir`, main thread (0) first, then worker threads. */
export function profileFiles(dir: string): { path: string; pid: number; thread: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, parsed: parseProfileName(name) }))
    .filter((f): f is { name: string; parsed: { pid: number; thread: number } } => f.parsed !== undefined)
    .map((f) => ({ path: join(dir, f.name), ...f.parsed }))
    .sort((a, b) => a.thread - b.thread);
}

/**
 * Maps positions in the code tsx ran back to the .ts source, from tsx's cache
 * (`<tmpdir>/tsx-<uid>/<time>-<hash>`, JSON `{code, map}`: the CommonJS output begins
 * `__filename="<path>";`). A file may have several entries (older versions of it): the one kept
 * is that whose code holds, at the most frames' positions, the frame's function name.
 */
export function tsxResolver(
  frames: CallFrame[],
  cacheDir = join(tmpdir(), `tsx-${process.geteuid?.() ?? userInfo().username}`),
): ResolveLocation {
  const wanted = new Map<string, CallFrame[]>();
  for (const f of frames) {
    if (!/\.[cm]?tsx?$/.test(f.url)) continue;
    const path = f.url.startsWith('file://') ? fileURLToPath(f.url) : f.url;
    wanted.set(path, [...(wanted.get(path) ?? []), f]);
  }
  const maps = new Map<string, SourceMap>();
  if (wanted.size === 0) return () => undefined;
  let names: string[] = [];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return () => undefined;
  }
  const candidates = new Map<string, { code: string; map: SourceMapPayload; mtime: number }[]>();
  for (const name of names) {
    const file = join(cacheDir, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const m = /^\{"code":"__filename=\\"((?:[^"\\]|\\.)*)\\"/.exec(text.slice(0, 2000));
    if (!m || !wanted.has(JSON.parse(`"${m[1]}"`) as string)) continue;
    try {
      const entry = JSON.parse(text) as { code: string; map: SourceMapPayload };
      const path = JSON.parse(`"${m[1]}"`) as string;
      candidates.set(path, [...(candidates.get(path) ?? []), { ...entry, mtime: statSync(file).mtimeMs }]);
    } catch {
      // Being written: skipped.
    }
  }
  for (const [path, entries] of candidates) {
    const fs = wanted.get(path)!;
    const score = (code: string) => {
      const lines = code.split('\n');
      return fs.filter(
        (f) =>
          f.functionName &&
          (lines[f.lineNumber] ?? '').slice(Math.max(0, f.columnNumber - 80), f.columnNumber + 80).includes(f.functionName),
      ).length;
    };
    const best = entries.map((e) => ({ e, s: score(e.code) })).sort((a, b) => b.s - a.s || b.e.mtime - a.e.mtime)[0];
    if (best) maps.set(path, new SourceMap(best.e.map));
  }
  return (url, line, column) => {
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    const map = maps.get(path);
    if (!map) return undefined;
    const entry = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
    if (entry.originalLine === undefined) return undefined;
    return { file: path, line: entry.originalLine + 1 };
  };
}
