// compute=ecs: the cluster's processes as ECS Fargate services in a three-AZ VPC — six storage
// nodes (two per AZ, pinned to their AZ's subnet, as the volume config places them), the writer and
// the readers — all from one container image built from the repository's Dockerfile, named in a
// Cloud Map namespace (n1.<namespace>, writer.<namespace>, …).
//
// The volume config is computed here from those names (core/volume.ts placement) and handed to
// every container as JSON, so the nodes and instances agree on it. Not yet on ECS: failover (the
// control plane starts instances as local processes) and durable node disks (a replaced storage
// task starts empty and rebuilds its segments from its peers).
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import { watermarkKey } from '../../../core/backup/archive.ts';
import { azCount, segmentsPerPg } from '../../../core/limits.ts';
import {
  defaultPlacement,
  type StorageNodeAddress,
  type VolumeConfig,
  validateVolumeConfig,
} from '../../../core/volume.ts';
import { repoRoot } from '../paths.ts';

export const storagePort = 7100;
export const storageHttpPort = 7101;
export const dataApiPort = 8080;
export const redoPort = 8081;
export const instanceHttpPort = 8082;
/** Readers besides the writer (the embedded default: tiers 0 and 1). */
export const readerCount = 2;
/** A new volume's geometry, as the control plane's defaults. */
export const volumePgCount = 8;
export const volumePagesPerPg = 65_536;
export const volumePageSizeBytes = 4096;

/** The region's three AZs, named as the volume config names them (R + a, b, c). */
export function clusterAzs(region: string): string[] {
  return ['a', 'b', 'c'].slice(0, azCount).map((letter) => `${region}${letter}`);
}

export function cloudMapNamespace(clusterName: string): string {
  return `${clusterName}.borealis.internal`;
}

/** Six storage nodes, n1..n6, two per AZ, addressed by their Cloud Map names. */
export function ecsVolumeConfig(clusterName: string, region: string): VolumeConfig {
  const azs = clusterAzs(region);
  const nodes: StorageNodeAddress[] = Array.from({ length: segmentsPerPg }, (_, i) => ({
    id: `n${i + 1}`,
    az: azs[i % azCount]!,
    host: `n${i + 1}.${cloudMapNamespace(clusterName)}`,
    port: storagePort,
    httpPort: storageHttpPort,
  }));
  return validateVolumeConfig({
    volumeId: clusterName,
    pageSizeBytes: volumePageSizeBytes,
    pagesPerPg: volumePagesPerPg,
    nodes,
    placement: defaultPlacement(nodes, volumePgCount),
  });
}

const volumeConfigFile = '/tmp/volume.json';

/** A container command: write the volume config from the environment, then exec the service. */
function serviceCommand(entry: string, flags: string[]): string[] {
  const quoted = flags.map((f) => `'${f}'`).join(' ');
  return [
    'sh',
    '-c',
    `printf '%s' "$BOREALIS_VOLUME_CONFIG" > ${volumeConfigFile} && exec node --import tsx ${entry} --volume-config ${volumeConfigFile} ${quoted}`,
  ];
}

export interface EcsComputeProps {
  clusterName: string;
  region: string;
  redoStream: kinesis.IStream;
  bucket: s3.IBucket;
  bucketKey: kms.IKey;
}

export class EcsCompute extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly securityGroup: ec2.SecurityGroup;
  readonly storageNodes: ecs.FargateService[] = [];
  readonly writer: ecs.FargateService;
  readonly readers: ecs.FargateService;

  constructor(scope: Construct, id: string, props: EcsComputeProps) {
    super(scope, id);
    const azs = clusterAzs(props.region);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      availabilityZones: azs,
      // One NAT gateway: the tasks only need egress to pull the image and reach AWS APIs.
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', {
              retention: logs.RetentionDays.ONE_MONTH,
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
        },
      },
    });
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      clusterName: props.clusterName,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      defaultCloudMapNamespace: {
        name: cloudMapNamespace(props.clusterName),
        type: servicediscovery.NamespaceType.DNS_PRIVATE,
        vpc: this.vpc,
      },
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'Peers', {
      vpc: this.vpc,
      description: 'Borealis storage nodes and instances: reachable from each other only',
      allowAllOutbound: true,
    });
    this.securityGroup.addIngressRule(
      this.securityGroup,
      ec2.Port.allTcp(),
      'storage protocol, redo, Data API',
    );

    const image = ecs.ContainerImage.fromAsset(repoRoot, { file: 'Dockerfile' });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const volume = JSON.stringify(ecsVolumeConfig(props.clusterName, props.region));
    const ns = cloudMapNamespace(props.clusterName);
    const clusterFlags = ['--cluster', props.clusterName, '--region', props.region];

    const service = (
      name: string,
      options: { cpu: number; memoryMiB: number; command: string[]; desiredCount: number; az?: string },
    ) => {
      const task = new ecs.FargateTaskDefinition(this, `${name}-Task`, {
        cpu: options.cpu,
        memoryLimitMiB: options.memoryMiB,
      });
      task.addContainer('main', {
        image,
        command: options.command,
        environment: { BOREALIS_VOLUME_CONFIG: volume, AWS_REGION: props.region },
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: name, logGroup }),
      });
      Validations.of(task).acknowledge({
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds the volume config (node names and ports) and the region: no secret. ' +
          'Secrets Manager would add a dependency for public configuration.',
      });
      Validations.of(task.obtainExecutionRole()).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, granted by CDK for pulling the image asset, supports no resource-level ' +
          'permission; the image pull actions themselves are scoped to the asset repository.',
      });
      const fargate = new ecs.FargateService(this, name, {
        cluster: this.cluster,
        taskDefinition: task,
        desiredCount: options.desiredCount,
        securityGroups: [this.securityGroup],
        vpcSubnets: {
          subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS,
          ...(options.az === undefined ? {} : { availabilityZones: [options.az] }),
        },
        cloudMapOptions: {
          name,
          dnsRecordType: servicediscovery.DnsRecordType.A,
          dnsTtl: Duration.seconds(10),
        },
        // A storage node or instance must not run twice under one identity during a deployment.
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { rollback: true },
      });
      return { fargate, task };
    };

    ecsVolumeConfig(props.clusterName, props.region).nodes.forEach((node) => {
      const { fargate } = service(node.id, {
        cpu: 512,
        memoryMiB: 1024,
        desiredCount: 1,
        az: node.az,
        command: serviceCommand('services/storage-node/main.ts', [
          '--id',
          node.id,
          '--az',
          node.az,
          '--data-dir',
          '/data',
        ]),
      });
      this.storageNodes.push(fargate);
    });

    const writer = service('writer', {
      cpu: 1024,
      memoryMiB: 2048,
      desiredCount: 1,
      command: serviceCommand('services/writer/main.ts', [
        ...clusterFlags,
        '--port',
        String(dataApiPort),
        '--redo-port',
        String(redoPort),
        '--http-port',
        String(instanceHttpPort),
        '--redo-stream',
        props.redoStream.streamName,
        '--backup-bucket',
        props.bucket.bucketName,
      ]),
    });
    this.writer = writer.fargate;
    // The writer publishes durable redo to Kinesis and reads the archive watermark.
    props.redoStream.grantWrite(writer.task.taskRole);
    writer.task.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'Watermark',
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects(watermarkKey(props.clusterName))],
      }),
    );
    writer.task.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BackupKey',
        actions: ['kms:Decrypt'],
        resources: [props.bucketKey.keyArn],
      }),
    );

    this.readers = service('reader', {
      cpu: 1024,
      memoryMiB: 2048,
      desiredCount: readerCount,
      command: serviceCommand('services/reader/main.ts', [
        ...clusterFlags,
        '--writer-redo',
        `writer.${ns}:${redoPort}`,
        '--port',
        String(dataApiPort),
        '--http-port',
        String(instanceHttpPort),
      ]),
    }).fargate;
  }
}
