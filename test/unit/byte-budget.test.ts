// The budget of rendered bytes a worker holds until SES answers: sends wait, in order, until
// what they hold fits, so memory stays bounded however many near-cap messages are in flight.
import { describe, expect, it } from 'vitest';
import { ByteBudget, heldBytes } from '../../activities/byte-budget';

describe('ByteBudget', () => {
  it('lets requests through while they fit and holds the rest, first come first served', async () => {
    const budget = new ByteBudget(100);
    const a = await budget.acquire(60);
    const order: string[] = [];
    const b = budget.acquire(50).then((release) => (order.push('b'), release));
    const c = budget.acquire(10).then((release) => (order.push('c'), release));
    await Promise.resolve();
    expect(order).toEqual([]); // c would fit, but it waits behind b
    expect(budget.inUse).toBe(60);
    a();
    const releaseB = await b;
    const releaseC = await c;
    expect(order).toEqual(['b', 'c']);
    expect(budget.inUse).toBe(60);
    releaseB();
    releaseB(); // a second release changes nothing
    releaseC();
    expect(budget.inUse).toBe(0);
  });

  it('lets a request larger than the whole budget through alone', async () => {
    const budget = new ByteBudget(100);
    const small = await budget.acquire(10);
    let big = false;
    const waiting = budget.acquire(500).then((release) => ((big = true), release));
    await Promise.resolve();
    expect(big).toBe(false);
    small();
    (await waiting)();
    expect(big).toBe(true);
    expect(budget.inUse).toBe(0);
  });

  it('counts what a rendered message holds: its parts and the request built from them', () => {
    expect(heldBytes(['ab', 'cde', undefined])).toBe(15);
  });
});
