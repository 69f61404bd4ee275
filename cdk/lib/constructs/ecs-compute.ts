// compute=ecs: one Borealis cluster on ECS Fargate in a three-AZ VPC, coherent by construction —
//   - six storage nodes, one ECS service each (two per AZ, pinned to their AZ's private subnet), named
//     in Cloud Map (n1.<namespace>, …: the volume config's hosts), each with a durable volume: an
//     access point of one encrypted EFS file system mounted at the data dir, so a replaced task finds
//     its segments where the last one left them;
//   - the control plane as a service (`--fleet ecs`): it runs the writer and the readers itself with
//     RunTask from their task definitions, learns their private IPs with DescribeTasks, stops them
//     with StopTask and starts/kills storage nodes through their services — its task role may do
//     exactly that, on these task definitions, services and this cluster only;
//   - the proxy as a service, following the control plane's topology;
//   - security groups per role, each port open only to the roles that use it, and one for the
//     functions, which the stack places in this VPC (see `functionNetwork`) so that they reach the
//     storage nodes and the writer.
// Every container runs the one image built from the repository's Dockerfile. Ports, container name,
// commands and the control plane's environment come from core/cluster/ecs-layout.ts, which the
// control plane's ECS fleet reads too.
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { watermarkKey } from '../../../core/backup/archive.ts';
import {
  ecsContainerCommand,
  ecsContainerName,
  ecsDataDir,
  ecsFleetVariables,
  ecsPorts,
  ecsVolumeConfigVariable,
} from '../../../core/cluster/ecs-layout.ts';
import { azCount, segmentsPerPg } from '../../../core/limits.ts';
import {
  defaultPlacement,
  type StorageNodeAddress,
  type VolumeConfig,
  validateVolumeConfig,
} from '../../../core/volume.ts';
import { repoRoot } from '../paths.ts';

export const storagePort = ecsPorts.storage;
export const storageHttpPort = ecsPorts.storageHttp;
export const dataApiPort = ecsPorts.dataApi;
export const redoPort = ecsPorts.redo;
export const instanceHttpPort = ecsPorts.instanceHttp;
/** Readers besides the writer (the embedded default: tiers 0 and 1). */
export const readerCount = 2;
/** A new volume's geometry, as the control plane's defaults. */
export const volumePgCount = 8;
export const volumePagesPerPg = 65_536;
export const volumePageSizeBytes = 4096;
/** The `node` user of the image (Dockerfile: USER node) owns each storage node's EFS directory. */
export const containerUid = '1000';
/** StopTask: SIGTERM, then SIGKILL after this — a planned stop is quick, a kill is near-immediate. */
export const instanceStopTimeout = Duration.seconds(5);

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

export interface EcsComputeProps {
  clusterName: string;
  region: string;
  redoStream: kinesis.IStream;
  bucket: s3.IBucket;
  bucketKey: kms.IKey;
  /** The topology parameter the control plane publishes to. */
  topology: ssm.IStringParameter;
}

/** Security groups, one per role. */
export interface EcsSecurityGroups {
  storage: ec2.SecurityGroup;
  instances: ec2.SecurityGroup;
  controlPlane: ec2.SecurityGroup;
  proxy: ec2.SecurityGroup;
  functions: ec2.SecurityGroup;
  fileSystem: ec2.SecurityGroup;
  /** Applications that use the cluster join this group: it may reach the proxy's endpoints. */
  clients: ec2.SecurityGroup;
}

export class EcsCompute extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly securityGroups: EcsSecurityGroups;
  readonly fileSystem: efs.FileSystem;
  readonly storageNodes: ecs.FargateService[] = [];
  readonly accessPoints: efs.AccessPoint[] = [];
  readonly controlPlane: ecs.FargateService;
  readonly proxy: ecs.FargateService;
  /** Run by the control plane (RunTask), not by a service. */
  readonly writerTask: ecs.FargateTaskDefinition;
  readonly readerTask: ecs.FargateTaskDefinition;

  constructor(scope: Construct, id: string, props: EcsComputeProps) {
    super(scope, id);
    const azs = clusterAzs(props.region);
    const ns = cloudMapNamespace(props.clusterName);
    const volume = ecsVolumeConfig(props.clusterName, props.region);
    const volumeJson = JSON.stringify(volume);

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      availabilityZones: azs,
      // One NAT gateway: tasks and functions only need egress to pull the image and reach AWS APIs.
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
        name: ns,
        type: servicediscovery.NamespaceType.DNS_PRIVATE,
        vpc: this.vpc,
      },
    });

    this.securityGroups = this.#securityGroups();
    const sg = this.securityGroups;

    // --- durable storage-node volumes ----------------------------------------------------------------
    this.fileSystem = new efs.FileSystem(this, 'NodeVolumes', {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: sg.fileSystem,
      encrypted: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.ELASTIC,
      enableAutomaticBackups: true,
      // The segments are the database: never deleted with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const image = ecs.ContainerImage.fromAsset(repoRoot, { file: 'Dockerfile' });
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const clusterFlags = ['--cluster', props.clusterName, '--region', props.region];

    const taskDefinition = (
      name: string,
      options: { cpu: number; memoryMiB: number; command: string[]; environment?: Record<string, string> },
    ) => {
      const task = new ecs.FargateTaskDefinition(this, `${name}-Task`, {
        cpu: options.cpu,
        memoryLimitMiB: options.memoryMiB,
      });
      task.addContainer(ecsContainerName, {
        containerName: ecsContainerName,
        image,
        command: options.command,
        environment: {
          [ecsVolumeConfigVariable]: volumeJson,
          AWS_REGION: props.region,
          ...options.environment,
        },
        logging: ecs.LogDrivers.awsLogs({ streamPrefix: name, logGroup }),
        stopTimeout: instanceStopTimeout,
      });
      Validations.of(task).acknowledge({
        id: 'AwsSolutions-ECS2',
        reason:
          'The environment holds the volume config (node names and ports), the region and, for the control ' +
          'plane, the names of ECS resources it runs tasks from: no secret. Secrets Manager would add a ' +
          'dependency for public configuration.',
      });
      Validations.of(task.obtainExecutionRole()).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, granted by CDK for pulling the image asset, supports no resource-level ' +
          'permission; the image pull actions themselves are scoped to the asset repository.',
      });
      return task;
    };
    const service = (
      name: string,
      task: ecs.FargateTaskDefinition,
      securityGroup: ec2.SecurityGroup,
      az?: string,
    ) =>
      new ecs.FargateService(this, name, {
        cluster: this.cluster,
        taskDefinition: task,
        desiredCount: 1,
        securityGroups: [securityGroup],
        vpcSubnets: {
          subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS,
          ...(az === undefined ? {} : { availabilityZones: [az] }),
        },
        cloudMapOptions: {
          name,
          dnsRecordType: servicediscovery.DnsRecordType.A,
          dnsTtl: Duration.seconds(10),
        },
        // A storage node, control plane or proxy must not run twice under one identity (or one volume).
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { rollback: true },
      });

    // --- storage nodes: a service each, its EFS access point at the data dir -------------------------
    for (const node of volume.nodes) {
      const accessPoint = this.fileSystem.addAccessPoint(`${node.id}-Volume`, {
        path: `/nodes/${node.id}`,
        createAcl: { ownerUid: containerUid, ownerGid: containerUid, permissions: '750' },
        posixUser: { uid: containerUid, gid: containerUid },
      });
      this.accessPoints.push(accessPoint);
      const task = taskDefinition(node.id, {
        cpu: 512,
        memoryMiB: 1024,
        command: ecsContainerCommand(
          'services/storage-node/main.ts',
          ['--id', node.id, '--az', node.az, '--data-dir', ecsDataDir],
          { advertise: node.host },
        ),
      });
      task.addVolume({
        name: 'data',
        efsVolumeConfiguration: {
          fileSystemId: this.fileSystem.fileSystemId,
          transitEncryption: 'ENABLED',
          authorizationConfig: { accessPointId: accessPoint.accessPointId, iam: 'ENABLED' },
        },
      });
      task.defaultContainer!.addMountPoints({
        containerPath: ecsDataDir,
        sourceVolume: 'data',
        readOnly: false,
      });
      // This node's directory only: mount and write through its own access point.
      task.taskRole.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'NodeVolume',
          actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
          resources: [this.fileSystem.fileSystemArn],
          conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': accessPoint.accessPointArn } },
        }),
      );
      this.storageNodes.push(service(node.id, task, sg.storage, node.az));
    }

    // --- the writer and readers: task definitions the control plane runs -----------------------------
    const instanceCommand = (entry: string) =>
      ecsContainerCommand(entry, clusterFlags, { advertise: 'self' });
    this.writerTask = taskDefinition('writer', {
      cpu: 1024,
      memoryMiB: 2048,
      command: instanceCommand('services/writer/main.ts'),
    });
    this.readerTask = taskDefinition('reader', {
      cpu: 1024,
      memoryMiB: 2048,
      command: instanceCommand('services/reader/main.ts'),
    });
    // The writer publishes durable redo to Kinesis and reads the archive watermark.
    props.redoStream.grantWrite(this.writerTask.taskRole);
    this.writerTask.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'Watermark',
        actions: ['s3:GetObject'],
        resources: [props.bucket.arnForObjects(watermarkKey(props.clusterName))],
      }),
    );
    this.writerTask.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'BackupKey',
        actions: ['kms:Decrypt'],
        resources: [props.bucketKey.keyArn],
      }),
    );

    // --- the control plane ------------------------------------------------------------------------------
    const privateSubnets = this.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnets;
    const subnetsByAz = Object.fromEntries(
      azs.map((az) => [az, privateSubnets.filter((s) => s.availabilityZone === az).map((s) => s.subnetId)]),
    );
    const controlPlaneTask = taskDefinition('control-plane', {
      cpu: 512,
      memoryMiB: 1024,
      command: ecsContainerCommand(
        'services/control-plane/main.ts',
        [
          '--dir',
          '/tmp/control-plane',
          ...clusterFlags,
          '--fleet',
          'ecs',
          '--readers',
          String(readerCount),
          '--port',
          String(ecsPorts.controlPlane),
          '--publish-ssm',
          '--redo-stream',
          props.redoStream.streamName,
          '--backup-bucket',
          props.bucket.bucketName,
        ],
        { advertise: `control-plane.${ns}`, volumeConfig: false },
      ),
      environment: {
        [ecsFleetVariables.cluster]: this.cluster.clusterName,
        [ecsFleetVariables.writerTaskDefinition]: this.writerTask.taskDefinitionArn,
        [ecsFleetVariables.readerTaskDefinition]: this.readerTask.taskDefinitionArn,
        [ecsFleetVariables.subnets]: Stack.of(this).toJsonString(subnetsByAz),
        [ecsFleetVariables.securityGroups]: sg.instances.securityGroupId,
        [ecsFleetVariables.storageServices]: Stack.of(this).toJsonString(
          Object.fromEntries(volume.nodes.map((n, i) => [n.id, this.storageNodes[i]!.serviceName])),
        ),
      },
    });
    this.#grantFleet(controlPlaneTask.taskRole, props);
    this.controlPlane = service('control-plane', controlPlaneTask, sg.controlPlane);

    // --- the proxy ----------------------------------------------------------------------------------------
    const proxyTask = taskDefinition('proxy', {
      cpu: 512,
      memoryMiB: 1024,
      command: ecsContainerCommand(
        'services/proxy/main.ts',
        [
          '--control-plane',
          `http://control-plane.${ns}:${ecsPorts.controlPlane}`,
          '--writer-port',
          String(ecsPorts.proxyWriter),
          '--reader-port',
          String(ecsPorts.proxyReader),
          '--http-port',
          String(ecsPorts.proxyHttp),
        ],
        { advertise: `proxy.${ns}`, volumeConfig: false },
      ),
    });
    this.proxy = service('proxy', proxyTask, sg.proxy);
  }

  /** Each port open only to the roles that use it. */
  #securityGroups(): EcsSecurityGroups {
    const group = (id: string, description: string) =>
      new ec2.SecurityGroup(this, id, { vpc: this.vpc, description, allowAllOutbound: true });
    const sg: EcsSecurityGroups = {
      storage: group('StorageNodes', 'Borealis storage nodes'),
      instances: group('Instances', 'Borealis writer and readers'),
      controlPlane: group('ControlPlane', 'Borealis control plane'),
      proxy: group('Proxy', 'Borealis proxy (cluster and reader endpoints)'),
      functions: group('Functions', 'Borealis Lambda functions in the VPC'),
      fileSystem: group('NodeVolumesAccess', 'Borealis storage-node volumes (EFS)'),
      clients: group('Clients', 'Applications using Borealis: may reach the proxy'),
    };
    const tcp = ec2.Port.tcp;
    // Storage protocol: the writer and readers, peer nodes (gossip, repair), functions (snapshot pages).
    for (const [peer, why] of [
      [sg.instances, 'redo and page reads from instances'],
      [sg.storage, 'gossip and repair between nodes'],
      [sg.functions, 'page reads from functions (snapshot)'],
    ] as const) {
      sg.storage.addIngressRule(peer, tcp(ecsPorts.storage), `storage protocol: ${why}`);
    }
    sg.storage.addIngressRule(
      sg.controlPlane,
      tcp(ecsPorts.storageHttp),
      'health checks from the control plane',
    );
    sg.instances.addIngressRule(sg.proxy, tcp(ecsPorts.dataApi), 'Data API from the proxy');
    sg.instances.addIngressRule(sg.instances, tcp(ecsPorts.redo), 'redo stream from the writer to readers');
    sg.instances.addIngressRule(
      sg.controlPlane,
      tcp(ecsPorts.instanceHttp),
      'health checks and retargeting from the control plane',
    );
    sg.instances.addIngressRule(
      sg.functions,
      tcp(ecsPorts.instanceHttp),
      'consistent point from functions (snapshot)',
    );
    sg.controlPlane.addIngressRule(sg.proxy, tcp(ecsPorts.controlPlane), 'topology for the proxy');
    sg.controlPlane.addIngressRule(sg.functions, tcp(ecsPorts.controlPlane), 'cluster API for functions');
    for (const port of [ecsPorts.proxyWriter, ecsPorts.proxyReader]) {
      sg.proxy.addIngressRule(sg.clients, tcp(port), 'Data API from the cluster’s clients');
    }
    sg.fileSystem.addIngressRule(sg.storage, tcp(2049), 'NFS from storage nodes');
    return sg;
  }

  /** The control plane's fleet: run and stop instance tasks, describe them, start/kill storage services. */
  #grantFleet(role: iam.IRole, props: EcsComputeProps): void {
    const stack = Stack.of(this);
    const clusterCondition = { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } };
    const tasksOfCluster = stack.formatArn({
      service: 'ecs',
      resource: 'task',
      resourceName: `${props.clusterName}/*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'RunInstances',
        actions: ['ecs:RunTask'],
        resources: [this.writerTask.taskDefinitionArn, this.readerTask.taskDefinitionArn],
        conditions: clusterCondition,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TagInstances',
        actions: ['ecs:TagResource'],
        resources: [tasksOfCluster],
        conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'FollowTasks',
        actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
        resources: [tasksOfCluster],
        conditions: clusterCondition,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListNodeTasks',
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: clusterCondition,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'StorageNodes',
        actions: ['ecs:UpdateService'],
        resources: this.storageNodes.map((s) => s.serviceArn),
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PassInstanceRoles',
        actions: ['iam:PassRole'],
        resources: [this.writerTask, this.readerTask].flatMap((t) => [
          t.taskRole.roleArn,
          t.obtainExecutionRole().roleArn,
        ]),
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'Topology',
        actions: ['ssm:PutParameter', 'ssm:GetParameter'],
        resources: [props.topology.parameterArn],
      }),
    );
    const regionInFinding = stack.region;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:${regionInFinding}:<AWS::AccountId>:task/${props.clusterName}/*]`,
      reason:
        'Task ARNs are made by RunTask at run time: the control plane may describe, stop and tag (on RunTask ' +
        'only) the tasks of this one ECS cluster, nothing else.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecs:ListTasks has no task resource to name; the statement is limited to this ECS cluster by the ' +
        'ecs:cluster condition.',
    });
  }

  /** Where the functions run when the cluster is on ECS: this VPC's private subnets, their own group. */
  get functionNetwork(): Pick<lambda.FunctionOptions, 'vpc' | 'vpcSubnets' | 'securityGroups'> {
    return {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroups.functions],
    };
  }

  /**
   * A function role in the VPC manages its network interfaces (what AWSLambdaVPCAccessExecutionRole
   * grants, without the managed policy): EC2's interface actions take no resource-level scope here.
   */
  grantFunctionNetworking(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'A function in a VPC needs to create, describe and delete its network interfaces; ' +
        'ec2:DescribeNetworkInterfaces supports no resource-level permission and Lambda names the ' +
        'interfaces at run time. These are the actions of AWSLambdaVPCAccessExecutionRole, granted inline.',
    });
  }
}
