import { describe, expect, it } from 'vitest';
import { assert, assertNever } from './assert.ts';
import { InvariantViolation } from './errors.ts';

describe('assert', () => {
  it('passes on truthy values', () => {
    expect(() => assert(true, 'x')).not.toThrow();
    expect(() => assert(1, 'x')).not.toThrow();
    expect(() => assert({}, 'x')).not.toThrow();
  });

  it('throws InvariantViolation with the message on falsy values', () => {
    for (const value of [false, 0, '', null, undefined, 0n]) {
      expect(() => assert(value, 'scl must not fall')).toThrow(InvariantViolation);
    }
    expect(() => assert(false, 'scl must not fall')).toThrow('scl must not fall');
  });

  it('builds a lazy message only on failure', () => {
    let built = 0;
    const message = () => {
      built++;
      return 'lazy';
    };
    assert(true, message);
    expect(built).toBe(0);
    expect(() => assert(false, message)).toThrow('lazy');
    expect(built).toBe(1);
  });

  it('narrows the type', () => {
    const value: string | undefined = 'x' as string | undefined;
    assert(value !== undefined, 'defined');
    expect(value.length).toBe(1);
  });
});

describe('assertNever', () => {
  it('throws InvariantViolation naming the value', () => {
    expect(() => assertNever('surprise' as never, 'kind')).toThrow(InvariantViolation);
    expect(() => assertNever('surprise' as never, 'kind')).toThrow('unexpected kind: surprise');
  });
});
