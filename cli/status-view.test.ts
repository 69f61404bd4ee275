import { describe, expect, it } from 'vitest';
import { compactScl, failoverSummary, formatStatus } from './status-view.ts';
import { sampleStatus } from './testing.ts';

describe('formatStatus', () => {
  const text = formatStatus(sampleStatus());
  const lines = text.split('\n');

  it('starts with the cluster, epoch, VDL, writer, endpoints and ARNs', () => {
    expect(lines.slice(0, 9)).toEqual([
      'cluster     borealis (us-east-1)',
      'epoch       4',
      'VDL         123456',
      'writer      instance-2',
      'endpoints   writer http://127.0.0.1:9001',
      '            reader http://127.0.0.1:9002',
      'resourceArn arn:aws:rds:us-east-1:000000000000:cluster:borealis',
      'secretArn   arn:aws:secretsmanager:us-east-1:000000000000:secret:borealis',
      'updated     2025-01-01T00:00:01.000Z',
    ]);
  });

  it("shows the cluster's binlog_format after the VDL when the writer reports it", () => {
    const shown = formatStatus(sampleStatus({ binlogFormat: 'ROW' })).split('\n');
    expect(shown.slice(2, 4)).toEqual(['VDL         123456', 'binlog      binlog_format ROW']);
  });

  it('has a table of instances with role, tier, AZ, state, health, pid and lag', () => {
    const start = lines.indexOf('instances (3)');
    expect(lines.slice(start + 1, start + 5)).toEqual([
      '  ID          ROLE    TIER  AZ          STATE    HEALTHY   PID  LAG MS',
      '  instance-1  reader     0  us-east-1a  running  yes      4101      12',
      '  instance-2  writer     1  us-east-1b  running  yes      4102       0',
      '  instance-3  reader    15  us-east-1c  down     no          -       -',
    ]);
  });

  it('has a table of storage nodes with SCL per PG compacted', () => {
    const start = lines.indexOf('storage nodes (6)');
    expect(lines[start + 1]).toBe('  ID    AZ          HEALTHY   PID  EPOCH  SCL (PG:LSN)');
    expect(lines[start + 2]).toBe('  sn-1  us-east-1a  yes      4200      4  0-2:5120 3:4999');
    expect(lines[start + 7]).toBe('  sn-6  us-east-1c  no          -      -  0-2:5120 3:4999');
  });

  it('lists the last failovers', () => {
    const start = lines.indexOf('failovers');
    expect(lines.slice(start + 1, start + 3)).toEqual([
      '  AT                        KIND       FROM → TO                 MS  EPOCH  REASON',
      '  2025-01-01T00:00:00.000Z  unplanned  instance-1 → instance-2  812      4  writer process exited',
    ]);
  });

  it('marks what is missing: no writer, no VDL, failover in progress, no failovers', () => {
    const view = formatStatus(
      sampleStatus({
        writer: null,
        vdl: null,
        failoverInProgress: true,
        endpoints: { writer: null, reader: null },
        failovers: [],
      }),
    );
    expect(view).toContain('writer      - (no writer serves)\n');
    expect(view).toContain('VDL         -\n');
    expect(view).toContain('failover    in progress\n');
    expect(view).toContain('endpoints   writer -\n');
    expect(view).toContain('\nfailovers: none\n');
  });

  it('shows only the last failovers and says how many there are', () => {
    const event = sampleStatus().failovers[0]!;
    const failovers = Array.from({ length: 8 }, (_, i) => ({ ...event, epoch: String(i + 1) }));
    const view = formatStatus(sampleStatus({ failovers }));
    expect(view).toContain('failovers (last 5 of 8)');
    expect(view.split('\n').filter((l) => l.includes('unplanned'))).toHaveLength(5);
  });

  it('has no trailing spaces', () => {
    expect(lines.filter((l) => l !== l.trimEnd())).toEqual([]);
  });
});

describe('compactScl', () => {
  it('merges consecutive PGs with the same SCL, in numeric order', () => {
    expect(compactScl({ '10': '7', '2': '5', '0': '5', '1': '5', '3': '6' })).toBe('0-2:5 3:6 10:7');
  });

  it('caps the groups', () => {
    const scl = Object.fromEntries(Array.from({ length: 10 }, (_, pg) => [String(pg), String(pg * 100)]));
    expect(compactScl(scl, 3)).toBe('0:0 1:100 2:200 +7 more');
  });

  it('leaves non-numeric PG keys unmerged and shows an empty map as -', () => {
    expect(compactScl({ b: '1', a: '1' })).toBe('a:1 b:1');
    expect(compactScl({})).toBe('-');
  });
});

it('failoverSummary', () => {
  expect(failoverSummary(sampleStatus().failovers[0]!)).toBe('instance-1 → instance-2 in 812 ms (epoch 4)');
  expect(failoverSummary({ ...sampleStatus().failovers[0]!, from: null })).toBe(
    '(no writer) → instance-2 in 812 ms (epoch 4)',
  );
});
