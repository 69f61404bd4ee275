// `borealis binlog`: the read's start from its flags, the event lines (readable and --json), the
// retention view, and the command line's own errors (pure: no system runs).
import { describe, expect, it } from 'vitest';
import { type BinlogEnvelope, backtrackEvent } from '../core/binlog/events.ts';
import { positionOf } from '../core/binlog/position.ts';
import type { ReadEvent } from '../core/binlog/replay-plan.ts';
import {
  eventJsonLine,
  formatEventLine,
  formatRetention,
  readStartOf,
  retentionView,
} from './binlog-view.ts';
import { runCli } from './program.ts';
import { memoryIo } from './testing.ts';

const source = {
  version: '0.1.0',
  connector: 'borealis' as const,
  name: 'borealis',
  ts_ms: Date.parse('2026-12-01T18:30:00.123Z'),
  snapshot: 'false' as const,
  db: 'main',
  table: 'orders',
  server_id: 3,
  file: 'mysql-bin-changelog.000001',
  pos: 4096,
  row: 1,
  lsn: '4096',
  txId: '17',
};
const transaction = { id: '17', total_order: 2, data_collection_order: 2 };

function event(envelope: BinlogEnvelope): ReadEvent {
  return { envelope, position: positionOf(4096n, 1), commitTimeMs: source.ts_ms };
}

describe('binlog read: where it starts', () => {
  it('a position, with or without its row', () => {
    expect(readStartOf({ fromPosition: 'mysql-bin-changelog.000002:12:3' })).toEqual({
      kind: 'position',
      position: { file: 'mysql-bin-changelog.000002', pos: 12, row: 3 },
    });
    expect(readStartOf({ fromPosition: 'mysql-bin-changelog.000001:7' })).toEqual({
      kind: 'position',
      position: { file: 'mysql-bin-changelog.000001', pos: 7, row: 0 },
    });
  });

  it('an ISO time', () => {
    expect(readStartOf({ fromTime: '2026-12-01T18:30:00.000Z' })).toEqual({
      kind: 'time',
      timeMs: Date.parse('2026-12-01T18:30:00.000Z'),
    });
  });

  it.each([
    [{}, 'give one of --from-position, --from-time'],
    [
      { fromTime: '2026-12-01T00:00:00Z', fromPosition: 'mysql-bin-changelog.000001:1' },
      'give only one of --from-position, --from-time (got --from-position and --from-time)',
    ],
    [{ fromTime: 'yesterday' }, "--from-time 'yesterday' is not an ISO time (e.g. 2026-12-01T18:30:00.000Z)"],
    [{ fromTime: '12345' }, "--from-time '12345' is not an ISO time (e.g. 2026-12-01T18:30:00.000Z)"],
    [{ fromPosition: 'binlog.000001:4' }, 'not a binlog position: binlog.000001:4'],
    [
      { fromPosition: 'mysql-bin-changelog.000001' },
      "not a binlog position: 'mysql-bin-changelog.000001' (expected mysql-bin-changelog.NNNNNN:POS[:ROW])",
    ],
  ])('refuses %j: %s', (flags, message) => {
    expect(() => readStartOf(flags)).toThrow(message);
  });
});

describe('binlog read: what it prints', () => {
  const row = event({
    before: { id: 7, qty: 1 },
    after: { id: 7, qty: 2 },
    op: 'u',
    key: { id: 7 },
    ts_ms: 1,
    source,
    transaction,
  });
  const ddl = event({
    ts_ms: 1,
    databaseName: 'main',
    ddl: 'create table orders (\n  id integer primary key,\n  qty integer\n)',
    tableChanges: [{ type: 'CREATE', id: '"main"."orders"' }],
    source,
    transaction,
  });

  it('a readable line per event: position, commit time, op, table, key', () => {
    expect(formatEventLine(row)).toBe(
      'mysql-bin-changelog.000001:4096:1  2026-12-01T18:30:00.123Z  u  orders  {"id":7}\n',
    );
  });

  it('DDL on one line, cut to a bounded length', () => {
    expect(formatEventLine(ddl)).toBe(
      'mysql-bin-changelog.000001:4096:1  2026-12-01T18:30:00.123Z  ddl  orders  create table orders ( id integer primary key, qty integer )\n',
    );
    const long = event({
      ...(ddl.envelope as object),
      ddl: `create table t (${'c integer, '.repeat(50)})`,
    } as BinlogEnvelope);
    expect(formatEventLine(long).length).toBeLessThan(220);
  });

  it('a backtrack control event: where it goes back to and what it undid', () => {
    const control = backtrackEvent(
      {
        seq: 2,
        epoch: 9n,
        appliedAtMs: Date.parse('2026-12-01T18:31:00.000Z'),
        targetLsn: 4000n,
        targetTimeMs: Date.parse('2026-12-01T18:00:00.000Z'),
        fromLsn: 4096n,
      },
      { cluster: 'borealis', serverId: 9, nowMs: () => 0 },
    );
    expect(formatEventLine({ ...control, commitTimeMs: control.commitTimeMs })).toBe(
      'mysql-bin-changelog.000001:4096:0  2026-12-01T18:31:00.000Z  backtrack  -  to 2026-12-01T18:00:00.000Z (#2: commits after LSN 4000 undone)\n',
    );
  });

  it('--json: the envelope on one line, parseable', () => {
    const line = eventJsonLine(row);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.trimEnd()).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(row.envelope);
  });
});

describe('binlog retention view', () => {
  const now = Date.parse('2026-12-02T00:00:00.000Z');

  it('the default', () => {
    const v = retentionView('borealis', { hours: 24, isDefault: true, updatedAt: null }, now);
    expect(v).toEqual({
      cluster: 'borealis',
      binlogRetentionHours: 24,
      isDefault: true,
      updatedAt: null,
      retainFrom: '2026-12-01T00:00:00.000Z',
    });
    expect(formatRetention(v)).toBe(
      'binlog retention hours  24 (default)\nreadable from           2026-12-01T00:00:00.000Z (cluster borealis)\n',
    );
  });

  it('a stored setting', () => {
    const v = retentionView(
      'borealis',
      { hours: 48, isDefault: false, updatedAt: '2026-12-01T12:00:00.000Z' },
      now,
    );
    expect(formatRetention(v)).toContain('binlog retention hours  48 (set 2026-12-01T12:00:00.000Z)\n');
  });
});

describe('binlog command line', () => {
  it.each([
    [
      ['binlog', 'retention', '--hours', '0'],
      "option '--hours <n>' argument '0' is invalid. must be an integer from 1 to 2160",
    ],
    [['binlog', 'retention', '--hours', '2161'], 'must be an integer from 1 to 2160'],
    [['binlog', 'retention', '--hours', '1.5'], 'must be an integer from 1 to 2160'],
    [['binlog', 'read'], 'give one of --from-position, --from-time'],
    [['binlog', 'read', '--from-time', 'soon'], "--from-time 'soon' is not an ISO time"],
    [['binlog', 'read', '--from-position', 'x:1'], '--from-position: not a binlog position: x:1'],
  ])('%j: one line, exit 2, nothing touched', async (argv, message) => {
    const io = memoryIo();
    // A state dir where nothing runs: a bad command line must fail before looking for a system.
    expect(await runCli([...argv, '--state-dir', '/nonexistent/borealis-state'], io)).toBe(2);
    const lines = io.stderr().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(message);
    expect(lines[0]).toMatch(/; see `borealis binlog --help`$/);
    expect(io.stdout()).toBe('');
  });

  it('--help names both commands', async () => {
    const io = memoryIo();
    expect(await runCli(['binlog', '--help'], io)).toBe(0);
    expect(io.stdout()).toContain('read [options]');
    expect(io.stdout()).toContain('retention [options]');
  });
});
