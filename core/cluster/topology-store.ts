// Where a cluster's published topology is read — the one way a function (or any process that is not
// the control plane) finds a cluster, in both modes:
//   - LocalStack/AWS: the SSM parameter `/borealis/<cluster>/topology`, which the control plane
//     overwrites with every change (services/control-plane/topology-publisher.ts);
//   - embedded: the same document, as the control plane persists it in its cluster dir
//     (`<BOREALIS_TOPOLOGY_DIR>/<cluster>/topology.json`); the embedded function runner sets the
//     variable to the state dir's `clusters/` folder.
// Parsing is strict about the fields a reader acts on and leaves the rest as published.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { ssmClient } from '../aws/clients.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Topology } from './topology.ts';

/** Embedded mode: the folder holding one `<cluster>/topology.json` per cluster. */
export const topologyDirVariable = 'BOREALIS_TOPOLOGY_DIR';

/** SSM parameter the control plane publishes a cluster's topology to (created by CDK for the primary). */
export function topologyParameterName(cluster: string): string {
  return `/borealis/${cluster}/topology`;
}

/** The file a control plane persists its topology to, under a topology dir. */
export function topologyFilePath(topologyDir: string, cluster: string): string {
  return join(topologyDir, cluster, 'topology.json');
}

function invalid(where: string, why: string): BorealisError {
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, `topology in ${where}: ${why}`, { retryable: false });
}

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isUrl = (v: unknown): v is string => isText(v) && /^https?:\/\/[^\s/]+(\/\S*)?$/.test(v);

/**
 * A published topology document, checked: cluster, version, epoch, writer (null or with id and
 * endpoint) and readers must be there; the URLs a reader follows must be http(s) URLs when present.
 * `where` names the source in the error (parameter name or file).
 */
export function parsePublishedTopology(text: string, where: string): Topology {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw invalid(where, `not JSON (${(error as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(where, 'not an object');
  const t = doc as Partial<Topology>;
  if (!isText(t.cluster)) throw invalid(where, 'cluster is required');
  if (!Number.isSafeInteger(t.version) || (t.version as number) < 0)
    throw invalid(where, 'version must be a non-negative integer');
  if (!Array.isArray(t.readers)) throw invalid(where, 'readers must be a list');
  if (t.writer !== null) {
    const w = t.writer as Partial<NonNullable<Topology['writer']>> | undefined;
    if (typeof w !== 'object' || w === null || !isText(w.id) || !isUrl(w.endpoint))
      throw invalid(where, 'writer must be null or have an id and an endpoint URL');
    if (w.httpUrl !== undefined && !isUrl(w.httpUrl)) throw invalid(where, 'writer.httpUrl must be a URL');
  }
  for (const field of ['controlPlaneUrl', 'volumeUrl'] as const) {
    if (t[field] !== undefined && !isUrl(t[field])) throw invalid(where, `${field} must be a URL`);
  }
  // CDK's unpublished placeholder carries only cluster, version, writer and readers.
  if (t.version! > 0 && (typeof t.epoch !== 'string' || !/^\d{1,20}$/.test(t.epoch)))
    throw invalid(where, 'epoch must be a decimal string');
  return t as Topology;
}

/** Whether a reader's error means "no such cluster published a topology" (not a failure to read). */
export function isTopologyNotFound(error: unknown): boolean {
  return error instanceof BorealisError && error.context.notFound === true;
}

/** Reads a cluster's published topology; each call reads it afresh (it follows failovers). */
export type ReadPublishedTopology = (cluster: string) => Promise<Topology>;

/** Embedded mode: the control plane's persisted topology file under `topologyDir`. */
export function fileTopologyReader(topologyDir: string): ReadPublishedTopology {
  return async (cluster) => {
    const file = topologyFilePath(topologyDir, cluster);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BorealisError(ErrorCode.UNAVAILABLE, `no cluster '${cluster}': ${file} does not exist`, {
          retryable: false,
          context: { notFound: true },
        });
      }
      throw new BorealisError(ErrorCode.UNAVAILABLE, `cannot read ${file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return parsePublishedTopology(text, file);
  };
}

/** LocalStack/AWS: GetParameter on the cluster's topology parameter. */
export function ssmTopologyReader(ssm: SSMClient): ReadPublishedTopology {
  return async (cluster) => {
    const name = topologyParameterName(cluster);
    let value: string | undefined;
    try {
      value = (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value;
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `no cluster '${cluster}': SSM parameter ${name} does not exist`,
          { retryable: false, cause: error, context: { notFound: true } },
        );
      }
      throw new BorealisError(
        ErrorCode.UNAVAILABLE,
        `cannot read SSM parameter ${name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (value === undefined) throw invalid(name, 'the parameter has no value');
    return parsePublishedTopology(value, name);
  };
}

/**
 * The topology reader of an environment: the embedded dir when BOREALIS_TOPOLOGY_DIR is set, else
 * SSM in `region` (endpoint from the environment: core/aws/endpoints.ts). `close` releases the client.
 */
export function topologyReaderFromEnv(
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): { read: ReadPublishedTopology; source: string; close: () => void } {
  const dir = env[topologyDirVariable];
  if (dir !== undefined && dir !== '') {
    return { read: fileTopologyReader(dir), source: `${topologyDirVariable}=${dir}`, close: () => {} };
  }
  const ssm = ssmClient({ region, env });
  return { read: ssmTopologyReader(ssm), source: `SSM (${region})`, close: () => ssm.destroy() };
}
