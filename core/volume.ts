// The volume's geometry and placement: which pages form which protection group (PG), and which
// storage node holds which segment of it (full or tail). Placement is data — a JSON file every
// storage node and writer reads — so that moving a segment is a config change, not a code change.
import { readFileSync } from 'node:fs';
import { assert } from './assert.ts';
import { BorealisError, ErrorCode } from './errors.ts';
import { azCount, fullSegmentsPerPg, pageSizeBytesMax, pageSizeBytesMin, segmentsPerPg } from './limits.ts';
import type { SegmentKind } from './quorum.ts';

export interface StorageNodeAddress {
  id: string;
  az: string;
  host: string;
  /** Binary protocol port. */
  port: number;
  /** HTTP port for /health and /metrics. */
  httpPort: number;
}

export interface SegmentPlacement {
  nodeId: string;
  kind: SegmentKind;
}

export interface PgPlacement {
  pg: number;
  segments: SegmentPlacement[];
}

export interface VolumeConfig {
  volumeId: string;
  pageSizeBytes: number;
  /** Pages per PG. Aurora: 10 GB; small in tests so that several PGs exist. */
  pagesPerPg: number;
  nodes: StorageNodeAddress[];
  placement: PgPlacement[];
}

function invalid(message: string, context: Record<string, unknown> = {}): BorealisError {
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, `volume config: ${message}`, { context });
}

/**
 * Spread PGs over six nodes in three AZs: in every AZ one node holds the full segment and the other
 * the tail, alternating by PG so that page storage and page reads are balanced across nodes.
 */
export function defaultPlacement(nodes: readonly StorageNodeAddress[], pgCount: number): PgPlacement[] {
  const azs = [...new Set(nodes.map((n) => n.az))].sort();
  if (azs.length !== azCount)
    throw invalid(`default placement needs nodes in exactly ${azCount} AZs`, { azs });
  const byAz = azs.map((az) => nodes.filter((n) => n.az === az));
  if (byAz.some((list) => list.length !== 2))
    throw invalid('default placement needs exactly two nodes per AZ');
  return Array.from({ length: pgCount }, (_, pg) => ({
    pg,
    segments: byAz.flatMap(([a, b]) => {
      const [full, tail] = pg % 2 === 0 ? [a!, b!] : [b!, a!];
      return [
        { nodeId: full.id, kind: 'full' as const },
        { nodeId: tail.id, kind: 'tail' as const },
      ];
    }),
  }));
}

export function validateVolumeConfig(config: VolumeConfig): VolumeConfig {
  if (typeof config.volumeId !== 'string' || config.volumeId === '') throw invalid('volumeId is required');
  const { pageSizeBytes, pagesPerPg } = config;
  if (
    !Number.isInteger(pageSizeBytes) ||
    pageSizeBytes < pageSizeBytesMin ||
    pageSizeBytes > pageSizeBytesMax ||
    (pageSizeBytes & (pageSizeBytes - 1)) !== 0
  ) {
    throw invalid(`pageSizeBytes must be a power of two in [${pageSizeBytesMin}, ${pageSizeBytesMax}]`, {
      pageSizeBytes,
    });
  }
  if (!Number.isInteger(pagesPerPg) || pagesPerPg < 1) throw invalid('pagesPerPg must be a positive integer');
  const nodeIds = new Set<string>();
  for (const node of config.nodes) {
    if (nodeIds.has(node.id)) throw invalid(`duplicate node id ${node.id}`);
    nodeIds.add(node.id);
    if (!Number.isInteger(node.port) || node.port <= 0 || node.port > 65535) {
      throw invalid(`node ${node.id}: bad port`, { port: node.port });
    }
  }
  if (config.placement.length === 0) throw invalid('placement lists no PG');
  config.placement.forEach((p, index) => {
    if (p.pg !== index) throw invalid(`placement[${index}] must describe pg ${index}`, { pg: p.pg });
    if (p.segments.length !== segmentsPerPg) throw invalid(`pg ${p.pg}: needs ${segmentsPerPg} segments`);
    const ids = new Set(p.segments.map((s) => s.nodeId));
    if (ids.size !== segmentsPerPg)
      throw invalid(`pg ${p.pg}: segments must be on ${segmentsPerPg} distinct nodes`);
    for (const s of p.segments) {
      if (!nodeIds.has(s.nodeId)) throw invalid(`pg ${p.pg}: unknown node ${s.nodeId}`);
      if (s.kind !== 'full' && s.kind !== 'tail')
        throw invalid(`pg ${p.pg}: bad segment kind ${String(s.kind)}`);
    }
    if (p.segments.filter((s) => s.kind === 'full').length !== fullSegmentsPerPg) {
      throw invalid(`pg ${p.pg}: needs ${fullSegmentsPerPg} full segments`);
    }
    const azs = new Set(p.segments.map((s) => config.nodes.find((n) => n.id === s.nodeId)!.az));
    if (azs.size !== azCount) throw invalid(`pg ${p.pg}: segments must span ${azCount} AZs`);
  });
  return config;
}

export function readVolumeConfig(path: string): VolumeConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `cannot read volume config ${path}`, {
      cause: error,
    });
  }
  return validateVolumeConfig(parsed as VolumeConfig);
}

export function pgCount(config: VolumeConfig): number {
  return config.placement.length;
}

/** SQLite numbers pages from 1; PG p holds pages [p * pagesPerPg + 1, (p + 1) * pagesPerPg]. */
export function pgOfPage(config: VolumeConfig, pageNo: number): number {
  assert(Number.isInteger(pageNo) && pageNo >= 1, () => `page number must be >= 1, got ${pageNo}`);
  const pg = Math.floor((pageNo - 1) / config.pagesPerPg);
  if (pg >= config.placement.length) {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `page ${pageNo} is beyond the volume's last PG`, {
      context: { pageNo, pgCount: config.placement.length, pagesPerPg: config.pagesPerPg },
    });
  }
  return pg;
}

export function pageRangeOfPg(config: VolumeConfig, pg: number): { first: number; last: number } {
  return { first: pg * config.pagesPerPg + 1, last: (pg + 1) * config.pagesPerPg };
}

export function segmentsOnNode(config: VolumeConfig, nodeId: string): { pg: number; kind: SegmentKind }[] {
  const result: { pg: number; kind: SegmentKind }[] = [];
  for (const p of config.placement) {
    const s = p.segments.find((x) => x.nodeId === nodeId);
    if (s) result.push({ pg: p.pg, kind: s.kind });
  }
  return result;
}

export function nodeById(config: VolumeConfig, nodeId: string): StorageNodeAddress {
  const node = config.nodes.find((n) => n.id === nodeId);
  if (!node) throw invalid(`unknown node ${nodeId}`);
  return node;
}
