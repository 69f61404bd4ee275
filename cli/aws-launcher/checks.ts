// `borealis up --aws` checks, before it starts anything, that the region's deployed resources exist:
// the backup bucket, the redo stream, the topology parameter and the provision queue — each a
// single call through the shared client factory. What is missing becomes ONE line that names the
// resource, the endpoint asked and what to do ("deploy first"); an endpoint that does not answer is
// a different line. The decision (`missingResourceLine`) is pure; `checkDeployedResources` does I/O.
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { kinesisClient, s3Client, sqsClient, ssmClient } from '../../core/aws/clients.ts';
import { type AwsService, resolveEndpoint } from '../../core/aws/endpoints.ts';
import { topologyParameterName } from '../../core/cluster/topology-store.ts';
import { regionalResources } from '../../core/resources.ts';
import { oneLine } from '../errors.ts';

/** What to run when the stack is not there (the README's LocalStack section). */
export const deployHint = 'deploy first (npm run deploy:local)';

export type DeployedResourceKind = 'bucket' | 'stream' | 'parameter' | 'queue';

export interface DeployedResource {
  kind: DeployedResourceKind;
  name: string;
  service: AwsService;
}

/** The deployed resources a cluster needs in a region, in the order they are checked. */
export function deployedResources(region: string, cluster: string): DeployedResource[] {
  const r = regionalResources(region, cluster);
  return [
    { kind: 'bucket', name: r.backupBucket, service: 's3' },
    { kind: 'stream', name: r.redoStream.name, service: 'kinesis' },
    { kind: 'parameter', name: topologyParameterName(cluster), service: 'ssm' },
    { kind: 'queue', name: r.provisionQueue, service: 'sqs' },
  ];
}

/** The endpoint a service is reached at, as a person reads it. */
export function endpointLabel(service: AwsService, region: string, env: NodeJS.ProcessEnv): string {
  return resolveEndpoint(service, region, env) ?? `AWS ${service} (${region})`;
}

/** Names of the SDK errors that mean "this resource does not exist". */
const notFoundNames = new Set([
  'NotFound',
  'NoSuchBucket',
  'ResourceNotFoundException',
  'ParameterNotFound',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
]);

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return (
    notFoundNames.has(e.name ?? '') || notFoundNames.has(e.Code ?? '') || e.$metadata?.httpStatusCode === 404
  );
}

/** The one line for a resource whose check failed: missing (deploy first) or not reachable. */
export function missingResourceLine(resource: DeployedResource, endpoint: string, error: unknown): string {
  if (isNotFound(error)) return `${resource.kind} ${resource.name} not found at ${endpoint}: ${deployHint}`;
  const e = error as { name?: string; message?: string; cause?: { code?: string } };
  const why = e.cause?.code ?? (e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message);
  return oneLine(
    `cannot check ${resource.kind} ${resource.name} at ${endpoint}: ${why ?? String(error)}`,
    300,
  );
}

/** Resolves when every resource exists; otherwise rejects with the first problem's one line. */
export async function checkDeployedResources(options: {
  region: string;
  cluster: string;
  env?: NodeJS.ProcessEnv;
}): Promise<void> {
  const { region, cluster } = options;
  const env = options.env ?? process.env;
  const s3 = s3Client({ region, env });
  const kinesis = kinesisClient({ region, env });
  const ssm = ssmClient({ region, env });
  const sqs = sqsClient({ region, env });
  const probes: Record<DeployedResourceKind, (name: string) => Promise<unknown>> = {
    bucket: (name) => s3.send(new HeadBucketCommand({ Bucket: name })),
    stream: (name) => kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name })),
    parameter: (name) => ssm.send(new GetParameterCommand({ Name: name })),
    queue: (name) => sqs.send(new GetQueueUrlCommand({ QueueName: name })),
  };
  try {
    for (const resource of deployedResources(region, cluster)) {
      try {
        await probes[resource.kind](resource.name);
      } catch (error) {
        throw new DeployedResourceError(
          missingResourceLine(resource, endpointLabel(resource.service, region, env), error),
          { cause: error },
        );
      }
    }
  } finally {
    for (const client of [s3, kinesis, ssm, sqs]) client.destroy();
  }
}

/** A check that failed; its message is the line to print. */
export class DeployedResourceError extends Error {
  override readonly name = 'DeployedResourceError';
}
