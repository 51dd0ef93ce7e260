// Issue 17, item 4: send windows read through the zone database. Fixed cases around daylight-saving
// changes, then a property over zones, windows and instants: "open" means the local time is in
// the window on an allowed day; "opens at" is a local opening and nothing between now and it is open.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTimeZone, secondsOfDay, WEEKDAYS, windowAt, windowProblems, type SendWindow, localSendTime } from '../../src/domain/send-window';

const at = (iso: string) => Date.parse(iso);
const office: SendWindow = { timeZone: 'Europe/Paris', start: '09:00', end: '17:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'] };

describe('send windows', () => {
  it('opens and closes at local times, across daylight-saving changes', () => {
    // Friday 2026-03-27, Paris on UTC+1: open 08:00–16:00 UTC.
    expect(windowAt(office, at('2026-03-27T08:30:00Z'))).toEqual({ open: true, closesAt: at('2026-03-27T16:00:00Z') });
    // Friday evening: next opening Monday 2026-03-30, after the change to UTC+2 (Sunday): 07:00 UTC.
    expect(windowAt(office, at('2026-03-27T16:00:00Z'))).toEqual({ open: false, opensAt: at('2026-03-30T07:00:00Z') });
    // Back to UTC+1 on 2026-10-25 (Sunday): Monday opens at 08:00 UTC.
    expect(windowAt(office, at('2026-10-24T12:00:00Z'))).toEqual({ open: false, opensAt: at('2026-10-26T08:00:00Z') });
    // New York changes on 2026-03-08: 09:00 local is 14:00 UTC before, 13:00 UTC after.
    const ny: SendWindow = { timeZone: 'America/New_York', start: '09:00', end: '10:00' };
    expect(windowAt(ny, at('2026-03-07T15:00:00Z'))).toEqual({ open: false, opensAt: at('2026-03-08T13:00:00Z') });
  });

  it('opens a time the change skips as far past the change as it was meant, and a repeated time at its first occurrence', () => {
    const early: SendWindow = { timeZone: 'Europe/Paris', start: '02:30', end: '04:00' };
    // 2026-03-29: Paris skips 02:00–03:00 local; 02:30 is half an hour past the change: 03:30 CEST, 01:30 UTC.
    expect(windowAt(early, at('2026-03-28T23:00:00Z'))).toEqual({ open: false, opensAt: at('2026-03-29T01:30:00Z') });
    // A time of that day after the change is on the new offset: 04:00 CEST closes at 02:00 UTC.
    expect(windowAt(early, at('2026-03-29T01:45:00Z'))).toEqual({ open: true, closesAt: at('2026-03-29T02:00:00Z') });
    // 2026-10-25: 02:00–03:00 local comes twice; 02:30 opens at its first occurrence (CEST, 00:30 UTC).
    expect(windowAt(early, at('2026-10-24T22:00:00Z'))).toEqual({ open: false, opensAt: at('2026-10-25T00:30:00Z') });
    // Auckland (UTC+12, +13 in summer) skips 02:00–03:00 on 2026-09-27: 02:30 opens at 03:30 NZDT (14:30 UTC the day before);
    // 02:00–03:00 comes twice on 2026-04-05: 02:30 opens at its first occurrence (NZDT, 13:30 UTC).
    const nz: SendWindow = { timeZone: 'Pacific/Auckland', start: '02:30', end: '04:00' };
    expect(windowAt(nz, at('2026-09-26T10:00:00Z'))).toEqual({ open: false, opensAt: at('2026-09-26T14:30:00Z') });
    expect(windowAt(nz, at('2026-04-04T10:00:00Z'))).toEqual({ open: false, opensAt: at('2026-04-04T13:30:00Z') });
    // Chatham (UTC+12:45, +13:45 in summer) skips 02:45–03:45 on 2026-09-27: 03:00 opens at 04:00 local (14:15 UTC).
    const chatham: SendWindow = { timeZone: 'Pacific/Chatham', start: '03:00', end: '05:00' };
    expect(windowAt(chatham, at('2026-09-26T10:00:00Z'))).toEqual({ open: false, opensAt: at('2026-09-26T14:15:00Z') });
    // Before the fix (workflows that ran with it replay with it): Paris's 02:30 on 2026-03-29 opened at 01:30 local.
    expect(windowAt(early, at('2026-03-28T23:00:00Z'), { dstBefore: true })).toEqual({ open: false, opensAt: at('2026-03-29T00:30:00Z') });
    // New York skips 02:00–03:00 on 2026-03-08: 02:15 opens at 03:15 EDT (07:15 UTC).
    const ny: SendWindow = { timeZone: 'America/New_York', start: '02:15', end: '05:00' };
    expect(windowAt(ny, at('2026-03-08T05:00:00Z'))).toEqual({ open: false, opensAt: at('2026-03-08T07:15:00Z') });
  });

  it('runs overnight when the end is before the start, belonging to the day it opens', () => {
    const night: SendWindow = { timeZone: 'Asia/Tokyo', start: '22:00', end: '06:00', days: ['fri'] };
    // Friday 23:00 Tokyo (14:00 UTC) and Saturday 05:00 Tokyo are open; Saturday 22:00 is not.
    expect(windowAt(night, at('2026-12-04T14:00:00Z'))).toEqual({ open: true, closesAt: at('2026-12-04T21:00:00Z') });
    expect(windowAt(night, at('2026-12-04T20:00:00Z')).open).toBe(true);
    expect(windowAt(night, at('2026-12-05T13:30:00Z'))).toEqual({ open: false, opensAt: at('2026-12-11T13:00:00Z') });
  });

  it('names what is wrong with a window, field by field', () => {
    expect(windowProblems({ timeZone: 'Europe/Paris', start: '09:00', end: '17:00', days: ['mon'] })).toEqual([]);
    expect(windowProblems({ timeZone: 'Mars/Olympus', start: '09:00', end: '17:00' }).map((p) => p.field)).toEqual(['time_zone']);
    expect(windowProblems({ timeZone: 'UTC', start: '09:00', end: '09:00' }).map((p) => p.field)).toEqual(['window']);
    expect(windowProblems({ timeZone: 'UTC', start: '9am', end: '24:00' }).map((p) => p.field)).toEqual(['window.start', 'window.end']);
    expect(windowProblems({ timeZone: 'UTC', start: '09:00', end: '10:00', days: [] }).map((p) => p.field)).toEqual(['window.days']);
    expect(windowProblems({ timeZone: 'UTC', start: '09:00', end: '10:00', days: ['funday'] }).map((p) => p.field)).toEqual([
      'window.days',
    ]);
    expect(isTimeZone('America/Argentina/Buenos_Aires')).toBe(true);
    expect(isTimeZone('')).toBe(false);
  });

  it('property: open means inside the window; closed means nothing is open until the opening it names', () => {
    const zones = [
      'UTC',
      'Europe/Paris',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kathmandu',
      'Pacific/Chatham',
      'America/Santiago',
    ];
    const hhmm = fc
      .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    const local = (ms: number, zone: string) => {
      const parts = Object.fromEntries(
        new Intl.DateTimeFormat('en-US', {
          timeZone: zone,
          hourCycle: 'h23',
          weekday: 'short',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        })
          .formatToParts(new Date(ms))
          .map((p) => [p.type, p.value]),
      );
      return {
        weekday: parts.weekday!.toLowerCase().slice(0, 3),
        seconds: Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second),
      };
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        hhmm,
        hhmm,
        fc.subarray([...WEEKDAYS], { minLength: 1 }),
        fc.integer({ min: at('2026-01-01T00:00:00Z'), max: at('2027-12-31T00:00:00Z') }),
        (timeZone, start, end, days, now) => {
          fc.pre(start !== end);
          const w: SendWindow = { timeZone, start, end, days };
          const state = windowAt(w, now);
          const s = secondsOfDay(start)!;
          const e = secondsOfDay(end)!;
          if (state.open) {
            expect(state.closesAt).toBeGreaterThan(now);
            const l = local(now, timeZone);
            const inside = e > s ? l.seconds >= s && l.seconds < e : l.seconds >= s || l.seconds < e;
            expect(inside, `${l.weekday} ${l.seconds}`).toBe(true);
          } else {
            expect(state.opensAt).toBeGreaterThan(now);
            expect(state.opensAt - now).toBeLessThanOrEqual(8 * 86_400_000);
            expect(windowAt(w, state.opensAt).open).toBe(true);
            // Just before it, and at points between, it is closed.
            for (const p of [state.opensAt - 1000, now + (state.opensAt - now) / 3, now + (2 * (state.opensAt - now)) / 3]) {
              if (p > now) expect(windowAt(w, p).open, new Date(p).toISOString()).toBe(false);
            }
            const l = local(state.opensAt, timeZone);
            // At the opening's local time (or just past a daylight-saving gap that skipped it).
            expect((((l.seconds - s) % 86_400) + 86_400) % 86_400).toBeLessThanOrEqual(3600);
          }
        },
      ),
      { numRuns: 1000 },
    );
  }, 60_000);
});

describe("recipients' local time", () => {
  it('mails each recipient at the campaign’s wall-clock send time in their own zone, daylight saving included', () => {
    // 09:00 in Paris on 2026-06-01 (UTC+2): 07:00 UTC.
    const sendAt = at('2026-06-01T07:00:00.250Z');
    expect(localSendTime(sendAt, 'Europe/Paris', 'Europe/Paris')).toBe(sendAt);
    // 09:00 in New York (UTC-4 in June): 13:00 UTC; in Kolkata (UTC+5:30): 03:30 UTC; in UTC: 09:00.
    expect(localSendTime(sendAt, 'Europe/Paris', 'America/New_York')).toBe(at('2026-06-01T13:00:00.250Z'));
    expect(localSendTime(sendAt, 'Europe/Paris', 'Asia/Kolkata')).toBe(at('2026-06-01T03:30:00.250Z'));
    expect(localSendTime(sendAt, 'Europe/Paris', 'UTC')).toBe(at('2026-06-01T09:00:00.250Z'));
    // 09:00 on 2026-03-29 in Paris is after its change (UTC+2), in London after its (UTC+1), in New York well after (UTC-4).
    const spring = at('2026-03-29T07:00:00Z');
    expect(localSendTime(spring, 'Europe/Paris', 'Europe/London')).toBe(at('2026-03-29T08:00:00Z'));
    expect(localSendTime(spring, 'Europe/Paris', 'America/New_York')).toBe(at('2026-03-29T13:00:00Z'));
    // The wall-clock date is the campaign zone's: 23:30 in Los Angeles on the 1st is 23:30 on the 1st in Tokyo (a day earlier in UTC).
    expect(localSendTime(at('2026-06-02T06:30:00Z'), 'America/Los_Angeles', 'Asia/Tokyo')).toBe(at('2026-06-01T14:30:00Z'));
  });
});
