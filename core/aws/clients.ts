// The one place that builds AWS SDK v3 clients. Every service, function, test and benchmark asks
// here, so the emulator quirks (STACK.md) are handled once: Kinesis over HTTP/1.1, S3 path-style
// with checksums only when required. Credentials come from the environment's default chain.
import { ECSClient } from '@aws-sdk/client-ecs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { type AwsService, resolveEndpoint } from './endpoints.ts';

// The SDK warns on Node 20 at every client construction; the version is pinned on purpose (STACK.md).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface ClientOptions {
  region: string;
  /** Overrides the endpoint resolved from the environment. */
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
}

function endpointFor(service: AwsService, options: ClientOptions): string | undefined {
  return options.endpoint ?? resolveEndpoint(service, options.region, options.env);
}

/** Credentials from an explicit environment, else the SDK's default chain (process env, profiles, roles). */
function credentialsFor(options: ClientOptions) {
  const env = options.env;
  if (env?.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    return {
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      },
    };
  }
  return {};
}

export function s3Client(options: ClientOptions): S3Client {
  const endpoint = endpointFor('s3', options);
  return new S3Client({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint, forcePathStyle: true }),
    // Emulators store streamed uploads with aws-chunked framing inside unless checksums are opt-in.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export function kinesisClient(options: ClientOptions): KinesisClient {
  const endpoint = endpointFor('kinesis', options);
  return new KinesisClient({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint }),
    // The default HTTP/2 handler breaks on emulator responses over ~16 KB.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
}

export function ssmClient(options: ClientOptions): SSMClient {
  const endpoint = endpointFor('ssm', options);
  return new SSMClient({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint }),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 10_000 }),
  });
}

export function eventBridgeClient(options: ClientOptions): EventBridgeClient {
  const endpoint = endpointFor('eventbridge', options);
  return new EventBridgeClient({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint }),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 10_000 }),
  });
}

/** ECS (compute=ecs): the control plane's fleet starts, stops and describes tasks. */
export function ecsClient(options: ClientOptions): ECSClient {
  const endpoint = endpointFor('ecs', options);
  return new ECSClient({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint }),
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 10_000 }),
  });
}

/** SQS: the provision queue (restores in deployed mode: core/cluster/provision.ts). */
export function sqsClient(options: ClientOptions): SQSClient {
  const endpoint = endpointFor('sqs', options);
  return new SQSClient({
    region: options.region,
    ...credentialsFor(options),
    ...(endpoint === undefined ? {} : { endpoint }),
    // A long poll (ReceiveMessage waits up to 20 s) must end before the request times out.
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
}
