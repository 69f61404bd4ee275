// The human view of a ClusterStatus (`borealis status` without --json): the cluster, its endpoints,
// a table of instances, a table of storage nodes with their SCL per PG, and the last failovers. Pure.
import { mysqlConnectLines } from '../core/cluster/mysql-connect.ts';
import type { ClusterStatus, FailoverEvent, StorageNodeStatus } from '../core/cluster/topology.ts';
import { formatColumns } from './table.ts';

/** Failovers listed, newest last; the document keeps more. */
export const failoversShownMax = 5;
/** SCL groups shown per storage node before `+N more`. */
export const sclGroupsShownMax = 6;

const none = '-';

export function formatStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name.padEnd(12)}${value}`);
  field('cluster', `${status.cluster} (${status.region})`);
  field('epoch', status.epoch);
  field('VDL', status.vdl ?? none);
  if (status.binlogFormat !== undefined) field('binlog', `binlog_format ${status.binlogFormat}`);
  field('writer', status.writer ?? `${none} (no writer serves)`);
  if (status.failoverInProgress) field('failover', 'in progress');
  field('endpoints', `writer ${status.endpoints.writer ?? none}`);
  field('', `reader ${status.endpoints.reader ?? none}`);
  const mysql = mysqlConnectLines(status);
  if (mysql !== undefined) {
    field('mysql', `writer ${mysql.writer}`);
    field('', `reader ${mysql.reader}`);
  }
  field('resourceArn', status.resourceArn);
  field('secretArn', status.secretArn);
  field('updated', status.updatedAt);

  lines.push('', `instances (${status.instances.length})`);
  lines.push(
    ...indent(
      formatColumns(
        [
          { header: 'ID' },
          { header: 'ROLE' },
          { header: 'TIER', align: 'right' },
          { header: 'AZ' },
          { header: 'STATE' },
          { header: 'HEALTHY' },
          { header: 'PID', align: 'right' },
          { header: 'LAG MS', align: 'right' },
        ],
        status.instances.map((i) => [
          i.id,
          i.role,
          String(i.tier),
          i.az,
          i.state,
          yesNo(i.healthy),
          orNone(i.pid),
          orNone(i.lagMs),
        ]),
      ),
    ),
  );

  lines.push('', `storage nodes (${status.storageNodes.length})`);
  lines.push(
    ...indent(
      formatColumns(
        [
          { header: 'ID' },
          { header: 'AZ' },
          { header: 'HEALTHY' },
          { header: 'PID', align: 'right' },
          { header: 'EPOCH', align: 'right' },
          { header: 'SCL (PG:LSN)' },
        ],
        status.storageNodes.map((n: StorageNodeStatus) => [
          n.id,
          n.az,
          yesNo(n.healthy),
          orNone(n.pid),
          n.epoch ?? none,
          compactScl(n.scl),
        ]),
      ),
    ),
  );

  const shown = status.failovers.slice(-failoversShownMax);
  const of =
    status.failovers.length > shown.length ? ` (last ${shown.length} of ${status.failovers.length})` : '';
  lines.push('', `failovers${shown.length === 0 ? ': none' : of}`);
  if (shown.length > 0) {
    lines.push(
      ...indent(
        formatColumns(
          [
            { header: 'AT' },
            { header: 'KIND' },
            { header: 'FROM → TO' },
            { header: 'MS', align: 'right' },
            { header: 'EPOCH', align: 'right' },
            { header: 'REASON' },
          ],
          shown.map((f) => [
            f.at,
            f.kind,
            `${f.from ?? none} → ${f.to}`,
            String(f.durationMs),
            f.epoch,
            f.reason,
          ]),
        ),
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** "instance-1 → instance-2 in 812 ms (epoch 4)" */
export function failoverSummary(event: FailoverEvent): string {
  return `${event.from ?? '(no writer)'} → ${event.to} in ${event.durationMs} ms (epoch ${event.epoch})`;
}

/**
 * SCL per PG in a few characters: PGs in order, a run of consecutive PGs with the same SCL merged
 * (`0-3:5120 4:5000`), at most `groupsMax` groups then `+N more`. Non-numeric PG keys are not merged.
 */
export function compactScl(scl: Record<string, string>, groupsMax: number = sclGroupsShownMax): string {
  const keys = Object.keys(scl);
  if (keys.length === 0) return none;
  const numeric = keys.every((k) => /^\d+$/.test(k));
  keys.sort(numeric ? (a, b) => Number(a) - Number(b) : undefined);
  const groups: { first: string; last: string; value: string }[] = [];
  for (const key of keys) {
    const value = scl[key]!;
    const previous = groups.at(-1);
    if (previous && numeric && previous.value === value && Number(previous.last) + 1 === Number(key)) {
      previous.last = key;
    } else {
      groups.push({ first: key, last: key, value });
    }
  }
  const shown = groups
    .slice(0, groupsMax)
    .map((g) => `${g.first === g.last ? g.first : `${g.first}-${g.last}`}:${g.value}`);
  const more = groups.length - Math.min(groups.length, groupsMax);
  return more > 0 ? `${shown.join(' ')} +${more} more` : shown.join(' ');
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

function orNone(value: number | null): string {
  return value === null ? none : String(value);
}

function indent(lines: string[]): string[] {
  return lines.map((l) => `  ${l}`);
}
