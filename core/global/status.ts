// `borealis global status`: the Global Database as Aurora's DescribeGlobalClusters shows it, built
// from each member's ClusterStatus and, for a secondary, its replica applier's /health. Pure: the
// CLI gathers the inputs. The JSON names (globalWriterEndpoint, members[].isWriter, replicationLagMs,
// synchronizationStatus …) are a contract for scripts: docs/global.md.
import type { ClusterStatus } from '../cluster/topology.ts';
import { replicationLagMs, type SynchronizationStatus, synchronizationStatus } from './replication.ts';

/** What a secondary's replica applier reports on /health (services/replica-applier/main.ts). */
export interface ApplierHealth {
  healthy: boolean;
  vdl: string;
  vdlCommitTimeMs: number;
  dataTransferBytes: number;
  epoch: string;
}

export interface GlobalMemberInput {
  region: string;
  isWriter: boolean;
  status: ClusterStatus | undefined;
  /** Secondaries: the applier's health, undefined when it does not answer. */
  applier?: ApplierHealth | undefined;
}

export interface GlobalMemberStatus {
  region: string;
  cluster: string;
  isWriter: boolean;
  writerEndpoint: string | null;
  readerEndpoint: string | null;
  resourceArn: string | null;
  secretArn: string | null;
  /** The member's VDL (decimal string): the primary's writer, or what the secondary holds durable. */
  vdl: string | null;
  /** AuroraGlobalDBReplicationLag (ms); null for the writer member and when unknown. */
  replicationLagMs: number | null;
  /** AuroraGlobalDBRPOLag (ms); null for the writer member and when unknown. */
  rpoLagMs: number | null;
  /** AuroraGlobalDBDataTransferBytes received by a secondary; null for the writer member. */
  dataTransferBytes: number | null;
  synchronizationStatus: SynchronizationStatus | null;
}

export interface GlobalStatus {
  globalClusterIdentifier: string;
  /**
   * The global writer endpoint's Data API URL, which always reaches the current primary's writer
   * (services/global-endpoint, ADR 018); without one, the current primary's cluster endpoint.
   */
  globalWriterEndpoint: string | null;
  /** The same endpoint over MySQL, `host:port`; null without a global writer endpoint. */
  globalWriterMysqlEndpoint: string | null;
  /** The ARN a Data API caller may name through the global writer endpoint (ADR 018). */
  globalClusterArn: string | null;
  members: GlobalMemberStatus[];
}

export function globalStatus(
  cluster: string,
  members: readonly GlobalMemberInput[],
  nowMs: number,
  globalWriter?: { dataApi: string; mysql: string; globalClusterArn: string },
): GlobalStatus {
  const writer = members.find((m) => m.isWriter);
  const primaryVdl =
    writer?.status?.vdl === null || writer?.status === undefined ? undefined : BigInt(writer.status.vdl);
  return {
    globalClusterIdentifier: cluster,
    globalWriterEndpoint: globalWriter?.dataApi ?? writer?.status?.endpoints.writer ?? null,
    globalWriterMysqlEndpoint: globalWriter?.mysql ?? null,
    globalClusterArn: globalWriter?.globalClusterArn ?? null,
    members: members.map((m) => {
      const s = m.status;
      const base = {
        region: m.region,
        cluster: s?.cluster ?? cluster,
        isWriter: m.isWriter,
        writerEndpoint: m.isWriter ? (s?.endpoints.writer ?? null) : null,
        readerEndpoint: s?.endpoints.reader ?? null,
        resourceArn: s?.resourceArn ?? null,
        secretArn: s?.secretArn ?? null,
      };
      if (m.isWriter) {
        return {
          ...base,
          vdl: s?.vdl ?? null,
          replicationLagMs: null,
          rpoLagMs: null,
          dataTransferBytes: null,
          synchronizationStatus: null,
        };
      }
      const a = m.applier;
      const lag =
        a === undefined || primaryVdl === undefined
          ? null
          : replicationLagMs({
              nowMs,
              secondaryCommitTimeMs: a.vdlCommitTimeMs,
              secondaryVdl: BigInt(a.vdl),
              primaryVdl,
            });
      return {
        ...base,
        vdl: a?.vdl ?? null,
        replicationLagMs: lag,
        rpoLagMs: lag,
        dataTransferBytes: a?.dataTransferBytes ?? null,
        synchronizationStatus: synchronizationStatus(a?.healthy === true),
      };
    }),
  };
}

/** The readable view. */
export function formatGlobalStatus(g: GlobalStatus): string {
  const lines = [
    `global database ${g.globalClusterIdentifier}`,
    `  global writer endpoint  ${g.globalWriterEndpoint ?? '(none)'}`,
    ...(g.globalWriterMysqlEndpoint ? [`    mysql                 ${g.globalWriterMysqlEndpoint}`] : []),
  ];
  for (const m of g.members) {
    lines.push(`  ${m.region}  ${m.isWriter ? 'primary (writer)' : `secondary, ${m.synchronizationStatus}`}`);
    if (m.writerEndpoint) lines.push(`    writer endpoint   ${m.writerEndpoint}`);
    lines.push(`    reader endpoint   ${m.readerEndpoint ?? '(none)'}`);
    lines.push(`    VDL               ${m.vdl ?? '(unknown)'}`);
    if (!m.isWriter) {
      lines.push(
        `    replication lag   ${m.replicationLagMs === null ? '(unknown)' : `${m.replicationLagMs} ms`}`,
      );
      lines.push(`    bytes replicated  ${m.dataTransferBytes ?? '(unknown)'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
