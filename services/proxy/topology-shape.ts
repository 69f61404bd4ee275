// Checks a topology document from the control plane before the proxy routes by it: a malformed one is
// refused whole (the last good one stays in force) rather than half-applied. Pure.
import type { Topology, TopologyReader, TopologyWriter } from '../../core/cluster/topology.ts';

export class TopologyShapeError extends Error {
  override readonly name = 'TopologyShapeError';
}

/** The document as a Topology, or TopologyShapeError naming the first field routing cannot use. */
export function checkTopology(document: unknown): Topology {
  const doc = objectAt(document, 'topology');
  const version = doc.version;
  if (!Number.isSafeInteger(version) || (version as number) < 0) {
    throw new TopologyShapeError(`topology.version must be a non-negative integer, got ${show(version)}`);
  }
  if (doc.writer !== null) checkWriter(doc.writer);
  if (!Array.isArray(doc.readers)) throw new TopologyShapeError('topology.readers must be a list');
  doc.readers.forEach((reader, index) => {
    checkReader(reader, `topology.readers[${index}]`);
  });
  const ids = new Set<string>();
  for (const instance of [doc.writer, ...doc.readers] as ({ id: string } | null)[]) {
    if (instance === null) continue;
    if (ids.has(instance.id)) throw new TopologyShapeError(`instance ${instance.id} appears twice`);
    ids.add(instance.id);
  }
  return doc as unknown as Topology;
}

function checkWriter(value: unknown): asserts value is TopologyWriter {
  const writer = objectAt(value, 'topology.writer');
  checkInstance(writer, 'topology.writer');
}

function checkReader(value: unknown, where: string): asserts value is TopologyReader {
  const reader = objectAt(value, where);
  checkInstance(reader, where);
  if (typeof reader.healthy !== 'boolean') throw new TopologyShapeError(`${where}.healthy must be a boolean`);
  const lag = reader.lagMs;
  if (lag !== null && (typeof lag !== 'number' || !Number.isFinite(lag))) {
    throw new TopologyShapeError(`${where}.lagMs must be a number or null, got ${show(lag)}`);
  }
}

function checkInstance(instance: Record<string, unknown>, where: string): void {
  if (typeof instance.id !== 'string' || instance.id === '') {
    throw new TopologyShapeError(`${where}.id must be a non-empty string`);
  }
  if (!Number.isSafeInteger(instance.incarnation) || (instance.incarnation as number) < 0) {
    throw new TopologyShapeError(`${where}.incarnation must be a non-negative integer`);
  }
  if (typeof instance.endpoint !== 'string' || !isHttpUrl(instance.endpoint)) {
    throw new TopologyShapeError(`${where}.endpoint must be an http:// URL, got ${show(instance.endpoint)}`);
  }
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' && url.pathname === '/';
  } catch {
    return false;
  }
}

function objectAt(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TopologyShapeError(`${where} must be an object, got ${show(value)}`);
  }
  return value as Record<string, unknown>;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 80);
}
