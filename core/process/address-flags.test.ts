// The bind/advertise pair every process derives from its flags: defaults keep 127.0.0.1, a wildcard
// bind needs an advertised address, and bad values are refused with a message naming the flag.
import { describe, expect, it } from 'vitest';
import { hostPort, httpUrl, resolveAddresses } from './address-flags.ts';

describe('resolveAddresses', () => {
  it('defaults both addresses to 127.0.0.1', () => {
    expect(resolveAddresses(undefined, undefined)).toEqual({ bind: '127.0.0.1', advertise: '127.0.0.1' });
  });

  it('advertises the bind address when none is given', () => {
    expect(resolveAddresses('10.213.4.2', undefined)).toEqual({
      bind: '10.213.4.2',
      advertise: '10.213.4.2',
    });
  });

  it('requires an advertised address when binding every interface', () => {
    expect((resolveAddresses('0.0.0.0', undefined) as Error).message).toContain('--advertise-address');
    expect(resolveAddresses('0.0.0.0', 'n1.borealis.internal')).toEqual({
      bind: '0.0.0.0',
      advertise: 'n1.borealis.internal',
    });
  });

  it('refuses a bind address that is not an IP and an advertised address that is not reachable', () => {
    expect((resolveAddresses('localhost', undefined) as Error).message).toBe(
      "--bind-address must be an IP address, got 'localhost'",
    );
    expect(resolveAddresses('0.0.0.0', '0.0.0.0')).toBeInstanceOf(Error);
    expect(resolveAddresses('127.0.0.1', 'http://x')).toBeInstanceOf(Error);
  });
});

describe('hostPort and httpUrl', () => {
  it('bracket IPv6 addresses only', () => {
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('::1', 80)).toBe('[::1]:80');
    expect(httpUrl('n1.borealis.internal', 7101)).toBe('http://n1.borealis.internal:7101');
  });
});
