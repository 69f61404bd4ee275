import { describe, expect, it } from 'vitest';
import { HoldQueue } from './hold-queue.ts';

describe('hold queue', () => {
  it('releases in arrival order, a re-held item keeping its place', () => {
    const queue = new HoldQueue<string>(10);
    queue.push('b', 2, 1_000);
    queue.push('c', 3, 1_000);
    queue.push('a', 1, 900);
    expect(queue.takeAll()).toEqual(['a', 'b', 'c']);
    expect(queue.size).toBe(0);
  });

  it('is bounded: a push beyond capacity is refused and holds nothing', () => {
    const queue = new HoldQueue<number>(2);
    expect(queue.push(1, 1, 10)).toBe(true);
    expect(queue.push(2, 2, 10)).toBe(true);
    expect(queue.push(3, 3, 10)).toBe(false);
    expect(queue.takeAll()).toEqual([1, 2]);
    expect(new HoldQueue<number>(0).push(1, 1, 10)).toBe(false);
  });

  it('expires by deadline and tells the next one', () => {
    const queue = new HoldQueue<string>(10);
    queue.push('a', 1, 100);
    queue.push('b', 2, 300);
    queue.push('c', 3, 200);
    expect(queue.nextDeadlineMs()).toBe(100);
    expect(queue.takeExpired(99)).toEqual([]);
    expect(queue.takeExpired(200)).toEqual(['a', 'c']);
    expect(queue.nextDeadlineMs()).toBe(300);
    expect(queue.remove('b')).toBe(true);
    expect(queue.remove('b')).toBe(false);
    expect(queue.nextDeadlineMs()).toBeUndefined();
  });
});
