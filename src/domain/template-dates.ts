// The date filters (date, date_to_xmlschema, date_to_rfc822, date_to_string,
// date_to_long_string), rendered in the render's time zone: UTC unless the campaign names an IANA
// zone, whatever the worker host's TZ. liquidjs's own filters format in the host's zone and read
// "2024-03-05" as midnight UTC, so `"2024-03-05" | date: "%b %d, %Y"` rendered "Mar 04, 2024" on a
// host west of UTC; they also take month and day names from the host's locale.
//
// How a value is read:
// - a date without a time ("2024-03-05") is that day, at midnight in the render's zone;
// - a date and time without a zone ("2024-03-05 10:30", "March 5, 2024") is that wall-clock time
//   in the render's zone;
// - a time with a zone ("…Z", "…+05:30", "… GMT") is that instant, shown in the render's zone;
// - a number (or a string of digits) is seconds since 1970; "now" and "today" are the render's time.
// Anything else is not a date and comes back unchanged, as in liquidjs. Names are English, as in
// Shopify's Liquid; %c, %x and %X use Ruby's formats rather than the host's locale.
import { toValue } from 'liquidjs';
import type { FilterHandler, FilterImpl } from './template-html';

export const DEFAULT_TIME_ZONE = 'UTC';
/** The context register holding the render's IANA time zone. */
export const TIME_ZONE_REGISTER = 'email-engine:time-zone';

const MINUTE = 60_000;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

interface Zone {
  /** Minutes east of UTC at `instant`. */
  offsetAt(instant: number): number;
  /** What %Z prints at `instant`. */
  abbreviation(instant: number): string;
}

const utc: Zone = { offsetAt: () => 0, abbreviation: () => 'UTC' };

function fixedZone(minutesEast: number): Zone {
  return { offsetAt: () => minutesEast, abbreviation: () => offsetText(minutesEast, true) };
}

// Zones are few (the campaign's and those templates name); formats are costly to build.
const ianaZones = new Map<string, Zone>();
const MAX_CACHED_ZONES = 64;

function ianaZone(name: string): Zone {
  const cached = ianaZones.get(name);
  if (cached) return cached;
  let parts: Intl.DateTimeFormat;
  let short: Intl.DateTimeFormat;
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    short = new Intl.DateTimeFormat('en-US', { timeZone: name, timeZoneName: 'short' });
  } catch {
    throw new Error(`unknown time zone "${name}"`);
  }
  const zone: Zone = {
    offsetAt(instant) {
      const field: Record<string, number> = {};
      let bc = false;
      for (const p of parts.formatToParts(instant)) {
        if (p.type === 'era') bc = p.value === 'BC';
        else if (p.type !== 'literal') field[p.type] = Number(p.value);
      }
      const year = bc ? 1 - field.year! : field.year!;
      const wall = utcTime(year, field.month! - 1, field.day!, field.hour!, field.minute!, field.second!, 0);
      const wholeSeconds = instant - (((instant % 1000) + 1000) % 1000);
      return Math.round((wall - wholeSeconds) / MINUTE);
    },
    abbreviation(instant) {
      return short.formatToParts(instant).find((p) => p.type === 'timeZoneName')?.value ?? name;
    },
  };
  if (ianaZones.size < MAX_CACHED_ZONES) ianaZones.set(name, zone);
  return zone;
}

/** Whether `name` is a time zone this renderer knows (an IANA name such as "Europe/Paris", or "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    zoneNamed(name);
    return true;
  } catch {
    return false;
  }
}

const OFFSET = /^([+-])(\d{2}):?(\d{2})$/;

function zoneNamed(name: string): Zone {
  if (name === 'UTC') return utc;
  const fixed = OFFSET.exec(name);
  if (fixed) return fixedZone((fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])));
  return ianaZone(name);
}

/**
 * The filter's own zone argument, as liquidjs takes it (a number is minutes behind UTC, as JavaScript's
 * getTimezoneOffset: -540 for Tokyo; a string an IANA name, or "+09:00"), else the render's zone.
 */
function zoneFor(ctx: FilterImpl['context'], argument: unknown): Zone {
  const arg = toValue(argument) as unknown;
  if (typeof arg === 'number') return fixedZone(-arg);
  if (typeof arg === 'string' && arg.trim() !== '') return zoneNamed(arg.trim());
  const name: unknown = ctx.getRegister(TIME_ZONE_REGISTER);
  return typeof name === 'string' ? zoneNamed(name) : utc;
}

// ---- reading a value as a point in time ----

/** Date.UTC without its mapping of years 0–99 to 1900–1999. */
function utcTime(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

/** The instant at which the zone's clock shows `wall` (a wall-clock time written as if UTC). */
function instantOfWall(wall: number, zone: Zone): number {
  const first = zone.offsetAt(wall);
  const guess = wall - first * MINUTE;
  const second = zone.offsetAt(guess);
  return second === first ? guess : wall - second * MINUTE;
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_LOCAL = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?$/;
// The zone forms JavaScript's parser understands: Z, ±hh:mm / ±hhmm, UTC/GMT, and US abbreviations.
const HAS_ZONE = /(?:[zZ]|[+-]\d{2}:?\d{2}|\b(?:UTC|GMT|UT)(?:[+-]\d{1,4})?|\b[ECMP][SD]T)$/;

function instantOf(value: unknown, zone: Zone): number | undefined {
  const v = toValue(value) as unknown;
  if (v === null || v === undefined) return undefined;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number') return v * 1000;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (s === 'now' || s === 'today') return Date.now();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const wall = wallTimeOf(s);
  if (wall !== undefined) return instantOfWall(wall, zone);
  if (HAS_ZONE.test(s)) return validTime(new Date(s));
  return undefined;
}

/** A date or date-time written without a zone, as a wall-clock time (ms, as if UTC); undefined if it has a zone or is no date. */
function wallTimeOf(s: string): number | undefined {
  const dateOnly = DATE_ONLY.exec(s);
  if (dateOnly) return validWall(Number(dateOnly[1]), Number(dateOnly[2]), Number(dateOnly[3]), 0, 0, 0, 0);
  const local = ISO_LOCAL.exec(s);
  if (local) {
    const ms = Number((local[7] ?? '0').padEnd(3, '0').slice(0, 3));
    return validWall(Number(local[1]), Number(local[2]), Number(local[3]), Number(local[4]), Number(local[5]), Number(local[6] ?? 0), ms);
  }
  if (HAS_ZONE.test(s) || !/\d/.test(s)) return undefined;
  // Other forms ("March 5, 2024", "2024/03/05 10:30"): JavaScript's parser, told the text is UTC so
  // the host's zone plays no part.
  return validTime(new Date(`${s} UTC`));
}

function validWall(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const t = utcTime(year, month - 1, day, hour, minute, Math.min(second, 59), ms);
  // 2024-02-30 is no date.
  return new Date(t).getUTCDate() === day ? t : undefined;
}

function validTime(d: Date): number | undefined {
  const t = d.getTime();
  return Number.isNaN(t) ? undefined : t;
}

// ---- formatting (strftime, with liquidjs's flags and widths) ----

interface Zoned {
  /** The wall-clock time, read through the UTC getters. */
  wall: Date;
  instant: number;
  offset: number;
  zone: Zone;
}

type Memory = { use(count: number): void };

const padWidths: Record<string, number> = {
  C: 2,
  d: 2,
  e: 2,
  H: 2,
  I: 2,
  j: 3,
  k: 2,
  l: 2,
  L: 3,
  m: 2,
  M: 2,
  S: 2,
  U: 2,
  W: 2,
  y: 2,
  Y: 4,
};
const spacePadded = new Set('aAbBceklpP');

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - utcTime(d.getUTCFullYear(), 0, 1, 0, 0, 0, 0)) / 86_400_000) + 1;
}

function weekOfYear(d: Date, startDay: number): number {
  const sinceStart = (d.getUTCDay() - startDay + 7) % 7;
  return Math.floor((dayOfYear(d) - 1 - sinceStart + 7) / 7);
}

function ordinal(day: number): string {
  if (day >= 11 && day <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][day % 10] ?? 'th';
}

function offsetText(minutesEast: number, colon: boolean): string {
  const abs = Math.abs(minutesEast);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${minutesEast < 0 ? '-' : '+'}${hh}${colon ? ':' : ''}${mm}`;
}

const hour12 = (d: Date) => d.getUTCHours() % 12 || 12;

const codes: Record<string, (z: Zoned, flags: Set<string>, width: number | undefined, memory: Memory) => string | number> = {
  a: ({ wall }) => DAYS[wall.getUTCDay()]!.slice(0, 3),
  A: ({ wall }) => DAYS[wall.getUTCDay()]!,
  b: ({ wall }) => MONTHS[wall.getUTCMonth()]!.slice(0, 3),
  h: ({ wall }) => MONTHS[wall.getUTCMonth()]!.slice(0, 3),
  B: ({ wall }) => MONTHS[wall.getUTCMonth()]!,
  c: (z, _f, _w, memory) => strftime(z, '%a %b %e %H:%M:%S %Y', memory),
  C: ({ wall }) => Math.floor(wall.getUTCFullYear() / 100),
  d: ({ wall }) => wall.getUTCDate(),
  e: ({ wall }) => wall.getUTCDate(),
  H: ({ wall }) => wall.getUTCHours(),
  I: ({ wall }) => hour12(wall),
  j: ({ wall }) => dayOfYear(wall),
  k: ({ wall }) => wall.getUTCHours(),
  l: ({ wall }) => hour12(wall),
  L: ({ wall }) => wall.getUTCMilliseconds(),
  m: ({ wall }) => wall.getUTCMonth() + 1,
  M: ({ wall }) => wall.getUTCMinutes(),
  N: ({ wall }, _f, width, memory) => {
    const digits = width || 9;
    memory.use(digits);
    return String(wall.getUTCMilliseconds()).padStart(3, '0').slice(0, digits).padEnd(digits, '0');
  },
  p: ({ wall }) => (wall.getUTCHours() < 12 ? 'AM' : 'PM'),
  P: ({ wall }) => (wall.getUTCHours() < 12 ? 'am' : 'pm'),
  q: ({ wall }) => ordinal(wall.getUTCDate()),
  s: ({ instant }) => Math.floor(instant / 1000),
  S: ({ wall }) => wall.getUTCSeconds(),
  u: ({ wall }) => wall.getUTCDay() || 7,
  U: ({ wall }) => weekOfYear(wall, 0),
  w: ({ wall }) => wall.getUTCDay(),
  W: ({ wall }) => weekOfYear(wall, 1),
  x: (z, _f, _w, memory) => strftime(z, '%m/%d/%y', memory),
  X: (z, _f, _w, memory) => strftime(z, '%H:%M:%S', memory),
  y: ({ wall }) => ((wall.getUTCFullYear() % 100) + 100) % 100,
  Y: ({ wall }) => wall.getUTCFullYear(),
  z: ({ offset }, flags) => offsetText(offset, flags.has(':')),
  Z: ({ zone, instant }) => zone.abbreviation(instant),
  t: () => '\t',
  n: () => '\n',
  '%': () => '%',
};

const FORMAT = /%([-_0^#:]+)?(\d+)?([EO])?(.)/g;

function strftime(z: Zoned, format: string, memory: Memory): string {
  return format.replace(FORMAT, (input: string, flagText: string | undefined, widthText: string | undefined, _modifier, code: string) => {
    const convert = codes[code];
    if (!convert) return input;
    const flags = new Set(flagText ?? '');
    const width = widthText === undefined ? undefined : Number(widthText);
    let out = String(convert(z, flags, width, memory));
    if (flags.has('^')) out = out.toUpperCase();
    else if (flags.has('#')) out = /[a-z]/.test(out) ? out.toUpperCase() : out.toLowerCase();
    if (code === 'N') return out;
    let padChar = spacePadded.has(code) ? ' ' : '0';
    if (flags.has('_')) padChar = ' ';
    else if (flags.has('0')) padChar = '0';
    const padWidth = flags.has('-') ? 0 : (width ?? padWidths[code] ?? 0);
    // Charged before padding: a width of a billion stops here, not in padStart.
    memory.use(Math.max(out.length, padWidth));
    if (padChar === '0' && out.startsWith('-')) return `-${out.slice(1).padStart(padWidth - 1, padChar)}`;
    return out.padStart(padWidth, padChar);
  });
}

function zoned(instant: number, zone: Zone): Zoned {
  const offset = zone.offsetAt(instant);
  return { wall: new Date(instant + offset * MINUTE), instant, offset, zone };
}

/** Formats `value` with `format` in the zone; undefined when `value` is not a date. */
function formatDate(this: FilterImpl, value: unknown, format: string, zoneArgument?: unknown): string | undefined {
  const memory = this.context.memoryLimit;
  memory.use(typeof value === 'string' ? value.length : 0);
  memory.use(format.length);
  const zone = zoneFor(this.context, zoneArgument);
  const instant = instantOf(value, zone);
  if (instant === undefined || Number.isNaN(new Date(instant).getTime())) return undefined;
  return strftime(zoned(instant, zone), format, memory);
}

function date(this: FilterImpl, value: unknown, format?: unknown, zone?: unknown): unknown {
  const f = toValue(format) as unknown;
  const pattern = f === null || f === undefined ? this.context.opts.dateFormat : String(f);
  return formatDate.call(this, value, pattern, zone) ?? value;
}

function dateAsText(month: '%b' | '%B') {
  return function (this: FilterImpl, value: unknown, type?: unknown, style?: unknown): unknown {
    const zone = zoneFor(this.context, undefined);
    const instant = instantOf(value, zone);
    if (instant === undefined) return value;
    const day = zoned(instant, zone).wall.getUTCDate();
    if (toValue(type) === 'ordinal') {
      const pattern = toValue(style) === 'US' ? `${month} ${day}%q, %Y` : `${day}%q ${month} %Y`;
      return formatDate.call(this, value, pattern) ?? value;
    }
    return formatDate.call(this, value, `%d ${month} %Y`) ?? value;
  };
}

/** The date filters, for both engines. */
export const dateFilters: Record<string, FilterHandler> = {
  date,
  date_to_xmlschema(this: FilterImpl, value: unknown) {
    return formatDate.call(this, value, '%Y-%m-%dT%H:%M:%S%:z') ?? value;
  },
  date_to_rfc822(this: FilterImpl, value: unknown) {
    return formatDate.call(this, value, '%a, %d %b %Y %H:%M:%S %z') ?? value;
  },
  date_to_string: dateAsText('%b'),
  date_to_long_string: dateAsText('%B'),
};
