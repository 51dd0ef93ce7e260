// Send windows (issue 17, item 4): a campaign may send only during a daily window in a time zone
// (09:00–17:00 Europe/Paris, Monday to Friday, say). Wall-clock times are read through the zone
// database (Intl), never through fixed offsets, so a daylight-saving change moves the window's
// UTC times with it. Pure and deterministic for a given zone database: workflows use it for
// their timers. A window whose end is before its start runs overnight, belonging to the day it
// opens on.

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface SendWindow {
  /** IANA time zone of the window ("Europe/Paris"). */
  timeZone: string;
  /** Local opening and closing times, "HH:MM" or "HH:MM:SS". */
  start: string;
  end: string;
  /** The days it opens on (default: every day). */
  days?: Weekday[];
}

const TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** Seconds after local midnight of "HH:MM[:SS]", or undefined. */
export function secondsOfDay(value: string): number | undefined {
  const m = TIME.exec(value);
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3] ?? 0) : undefined;
}

/** Whether the zone database knows `zone` (an IANA name such as "America/New_York", or "UTC"). */
export function isTimeZone(zone: string): boolean {
  if (zone.length === 0 || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a window, by field (relative to the window), or nothing. */
export function windowProblems(w: {
  timeZone?: string;
  start?: string;
  end?: string;
  days?: string[];
}): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (!w.timeZone || !isTimeZone(w.timeZone)) problems.push({ field: 'time_zone', message: `unknown time zone "${w.timeZone ?? ''}"` });
  const start = w.start === undefined ? undefined : secondsOfDay(w.start);
  const end = w.end === undefined ? undefined : secondsOfDay(w.end);
  if (start === undefined) problems.push({ field: 'window.start', message: 'must be a local time HH:MM (00:00 to 23:59)' });
  if (end === undefined) problems.push({ field: 'window.end', message: 'must be a local time HH:MM (00:00 to 23:59)' });
  if (start !== undefined && start === end) problems.push({ field: 'window', message: 'the window never opens: start equals end' });
  if (w.days !== undefined) {
    if (w.days.length === 0) problems.push({ field: 'window.days', message: 'the window never opens: no day is allowed' });
    const unknown = w.days.filter((d) => !(WEEKDAYS as readonly string[]).includes(d));
    if (unknown.length > 0)
      problems.push({ field: 'window.days', message: `unknown day ${unknown.join(', ')} (use ${WEEKDAYS.join(', ')})` });
  }
  return problems;
}

interface Local {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
  secondsOfDay: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall-clock date and time in `zone` at `ms`. */
function localAt(ms: number, zone: string): Local {
  const parts = Object.fromEntries(
    formatter(zone)
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday: (parts.weekday ?? 'Sun').toLowerCase().slice(0, 3) as Weekday,
    secondsOfDay: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
  };
}

/** How far `zone` is ahead of UTC at `ms`, in ms. */
function offsetAt(ms: number, zone: string): number {
  const l = localAt(ms, zone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day) + l.secondsOfDay * 1000;
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/**
 * The UTC time of a wall-clock time in `zone` (days past the month's end roll over). A time a
 * daylight-saving change skips maps to the same distance past the change; a repeated one to its
 * first occurrence.
 */
function utcOf(year: number, month: number, day: number, seconds: number, zone: string): number {
  const naive = Date.UTC(year, month - 1, day) + seconds * 1000;
  // The zone's offsets two days either side of the naive time (which is up to 14 h off the real
  // instant; no zone changes twice within four days): the wall time is on one of them, on both (a
  // repeated time), or on neither (a skipped one).
  const before = offsetAt(naive - 172_800_000, zone);
  const after = offsetAt(naive + 172_800_000, zone);
  const onBefore = naive - before;
  const onAfter = naive - after;
  const fits = (t: number) => offsetAt(t, zone) === naive - t;
  if (fits(onBefore) && fits(onAfter)) return Math.min(onBefore, onAfter);
  if (fits(onBefore)) return onBefore;
  if (fits(onAfter)) return onAfter;
  // Skipped: read on the offset before the change, it is as far past the change as it was meant.
  return onBefore;
}

/** The mapping before daylight-saving changes were read right (kept for workflows that ran with it: SEND_WINDOW_DST). */
function utcOfBefore(year: number, month: number, day: number, seconds: number, zone: string): number {
  const naive = Date.UTC(year, month - 1, day) + seconds * 1000;
  const first = naive - offsetAt(naive, zone);
  const second = naive - offsetAt(first, zone);
  return Math.min(first, second);
}

export type WindowState = { open: true; closesAt: number } | { open: false; opensAt: number };

/**
 * Whether the window is open at `nowMs`, and until when; else when it next opens. `dstBefore`:
 * times around a daylight-saving change as mapped before that was fixed (a workflow that ran
 * with it replays with it).
 */
export function windowAt(w: SendWindow, nowMs: number, opts: { dstBefore?: boolean } = {}): WindowState {
  const utcOfLocal = opts.dstBefore ? utcOfBefore : utcOf;
  const start = secondsOfDay(w.start)!;
  const end = secondsOfDay(w.end)!;
  const overnight = end < start;
  const days = new Set<Weekday>(w.days && w.days.length > 0 ? w.days : WEEKDAYS);
  const today = localAt(nowMs, w.timeZone);
  let opensAt: number | undefined;
  // From yesterday (an overnight window opened then may still be open) to a week ahead.
  for (let d = -1; d <= 8; d += 1) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + d));
    const weekday = WEEKDAYS[date.getUTCDay()]!;
    if (!days.has(weekday)) continue;
    const [y, m, day] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const open = utcOfLocal(y, m, day, start, w.timeZone);
    const close = utcOfLocal(y, m, day + (overnight ? 1 : 0), end, w.timeZone);
    if (open <= nowMs && nowMs < close) return { open: true, closesAt: close };
    if (open > nowMs && (opensAt === undefined || open < opensAt)) opensAt = open;
  }
  // Validated windows open at least once a week.
  return { open: false, opensAt: opensAt ?? nowMs + 7 * 86_400_000 };
}

/** "09:00–17:00 Europe/Paris, mon–fri" style text for held reasons and the Temporal UI. */
export function describeWindow(w: SendWindow): string {
  const days = w.days && w.days.length > 0 && w.days.length < 7 ? `, ${w.days.join(' ')}` : '';
  return `${w.start}–${w.end} ${w.timeZone}${days}`;
}

/**
 * Issue 17, item 4: when a recipient in `zone` is mailed: at the wall-clock date and time that
 * `sendAtMs` is in the campaign's zone, read in the recipient's (through the zone database, so a
 * daylight-saving change on either side is taken as it is on that date).
 */
export function localSendTime(sendAtMs: number, campaignZone: string, zone: string): number {
  const wall = localAt(sendAtMs, campaignZone);
  return utcOf(wall.year, wall.month, wall.day, wall.secondsOfDay, zone) + (sendAtMs - Math.floor(sendAtMs / 1000) * 1000);
}
