import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.ts';
import { killBody } from './kill.ts';
import { exactlyOne, flagName, integerFlag } from './options.ts';
import { startBody } from './start.ts';

describe('exactlyOne', () => {
  const keys = ['node', 'az', 'writer', 'instance'] as const;

  it('returns the one flag given', () => {
    expect(exactlyOne({ node: 'sn-1' }, keys)).toBe('node');
    expect(exactlyOne({ writer: true }, keys)).toBe('writer');
  });

  it('rejects no flag, naming them all', () => {
    expect(() => exactlyOne({}, keys)).toThrow(
      new UsageError('give one of --node, --az, --writer, --instance'),
    );
  });

  it('rejects two flags, naming the two', () => {
    expect(() => exactlyOne({ node: 'sn-1', az: 'us-east-1a' }, keys)).toThrow(
      new UsageError('give only one of --node, --az, --writer, --instance (got --node and --az)'),
    );
  });

  it('does not count an empty value as given', () => {
    expect(() => exactlyOne({ node: '' }, keys)).toThrow(UsageError);
  });
});

describe('target bodies', () => {
  it('kill: one body per target', () => {
    expect(killBody({ node: 'n9' })).toEqual({ node: 'n9' });
    expect(killBody({ az: 'us-east-1a' })).toEqual({ az: 'us-east-1a' });
    expect(killBody({ writer: true })).toEqual({ writer: true });
    expect(killBody({ instance: 'instance-2' })).toEqual({ instance: 'instance-2' });
    expect(() => killBody({ writer: true, instance: 'instance-2' })).toThrow(UsageError);
  });

  it('start: node or instance', () => {
    expect(startBody({ node: 'sn-3' })).toEqual({ node: 'sn-3' });
    expect(startBody({ instance: 'instance-1' })).toEqual({ instance: 'instance-1' });
    expect(() => startBody({})).toThrow(new UsageError('give one of --node, --instance'));
  });
});

describe('integerFlag', () => {
  it('accepts integers in range', () => {
    expect(integerFlag(0, 15)('0')).toBe(0);
    expect(integerFlag(0, 15)('15')).toBe(15);
    expect(integerFlag(1)('60000')).toBe(60_000);
  });

  it.each(['16', '-1', '1.5', 'abc', '', '1e3', ' '])('rejects %j', (raw) => {
    expect(() => integerFlag(0, 15)(raw)).toThrow(InvalidArgumentError);
  });

  it('says the range', () => {
    expect(() => integerFlag(0, 15)('99')).toThrow('must be an integer from 0 to 15');
    expect(() => integerFlag(1)('0')).toThrow('must be an integer >= 1');
  });
});

it('flagName spells flags as typed', () => {
  expect(flagName('writer')).toBe('--writer');
  expect(flagName('stateDir')).toBe('--state-dir');
});
