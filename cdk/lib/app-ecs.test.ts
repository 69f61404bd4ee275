// compute=ecs in both regions: a three-AZ VPC; six storage nodes, one service each, pinned two per AZ,
// each with its own access point on an encrypted EFS file system; the control plane and the proxy as
// services (the control plane runs the writer and readers from their task definitions, with a task
// role limited to that); security groups per role; the functions in the VPC; one image asset; the
// AwsSolutions pack — beside the same regional resources and functions as compute=external.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { watermarkKey } from '../../core/backup/archive.ts';
import { ecsDataDir, ecsFleetVariables, ecsPorts } from '../../core/cluster/ecs-layout.ts';
import { functionDefinitions } from '../../core/functions.ts';
import { azCount, segmentsPerPg } from '../../core/limits.ts';
import { type VolumeConfig, validateVolumeConfig } from '../../core/volume.ts';
import {
  cloudMapNamespace,
  clusterAzs,
  containerUid,
  ecsVolumeConfig,
  instanceStopTimeout,
} from './constructs/ecs-compute.ts';
import {
  actionsOf,
  clusterName,
  iamStatements,
  nagFindings,
  regions,
  resourcesOf,
  synthesize,
} from './testing.ts';

const synthesized = synthesize({ compute: 'ecs' });
afterAll(() => rmSync(synthesized.assemblyDir, { recursive: true, force: true }));
const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) =>
  stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;

/** The template properties these tests read (ECS services and task definitions, IAM policies). */
interface CfnProperties {
  DesiredCount?: number;
  LaunchType?: string;
  NetworkConfiguration: { AwsvpcConfiguration: unknown };
  ContainerDefinitions: ContainerDefinition[];
  Roles: Array<{ Ref: string }>;
}

interface ContainerDefinition {
  Command: string[];
  Image: unknown;
  Environment: Array<{ Name: string; Value: string }>;
  LogConfiguration: { LogDriver: string };
}

for (const role of ['primary', 'secondary'] as const) {
  const region = regions[role];
  const stack = synthesized.stacks[role];
  const template = synthesized.templates[role];
  const compute = stack.compute!;
  const resources = template.toJSON().Resources as Record<
    string,
    { Type: string; Properties: CfnProperties }
  >;
  const containerOf = (service: { taskDefinition: { node: { defaultChild?: unknown } } }) =>
    resources[logicalId(stack, service.taskDefinition)]!.Properties.ContainerDefinitions[0]!;
  /** The statements of the policies attached to one role. */
  const statementsOfRole = (role: { node: { defaultChild?: unknown } }) => {
    const roleId = logicalId(stack, role);
    return iamStatements(template).filter((st) =>
      resources[st.policy]!.Properties.Roles.some((r) => r.Ref === roleId),
    );
  };

  describe(`${role} stack (${region}, compute=ecs)`, () => {
    it('keeps the regional resources and every function', () => {
      template.resourceCountIs('AWS::S3::Bucket', 1);
      template.resourceCountIs('AWS::Kinesis::Stream', 2);
      template.resourceCountIs('AWS::SSM::Parameter', 1);
      template.resourceCountIs('AWS::Lambda::Function', Object.keys(functionDefinitions).length);
    });

    it('a VPC over the region’s three AZs with flow logs', () => {
      template.resourceCountIs('AWS::EC2::VPC', 1);
      template.resourceCountIs('AWS::EC2::Subnet', 2 * azCount);
      for (const az of clusterAzs(region)) {
        template.hasResourceProperties('AWS::EC2::Subnet', {
          AvailabilityZone: az,
          MapPublicIpOnLaunch: false,
        });
      }
      template.resourceCountIs('AWS::EC2::NatGateway', 1);
      template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
    });

    it('an ECS cluster with container insights and a private Cloud Map namespace', () => {
      template.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterName: clusterName,
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
      template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', {
        Name: cloudMapNamespace(clusterName),
      });
    });

    it('six storage nodes, one service each, pinned to their AZ’s private subnet', () => {
      expect(compute.storageNodes).toHaveLength(segmentsPerPg);
      const volume = ecsVolumeConfig(clusterName, region);
      compute.storageNodes.forEach((service, i) => {
        const node = volume.nodes[i]!;
        const subnet = compute.vpc.privateSubnets.find((s) => s.availabilityZone === node.az)!;
        const props = resources[logicalId(stack, service)]!.Properties;
        expect(props.DesiredCount).toBe(1);
        expect(props.LaunchType).toBe('FARGATE');
        expect(props.NetworkConfiguration.AwsvpcConfiguration).toMatchObject({
          AssignPublicIp: 'DISABLED',
          Subnets: [stack.resolve(subnet.subnetId)],
        });
        const command = containerOf(service).Command.join(' ');
        expect(command).toContain('services/storage-node/main.ts');
        expect(command).toContain(`--bind-address 0.0.0.0 --advertise-address '${node.host}'`);
        expect(command).toContain(`'--id' '${node.id}' '--az' '${node.az}' '--data-dir' '${ecsDataDir}'`);
      });
      const perAz = clusterAzs(region).map((az) => volume.nodes.filter((n) => n.az === az).length);
      expect(perAz).toEqual([2, 2, 2]);
    });

    it('one encrypted, retained EFS file system with one access point per storage node', () => {
      template.resourceCountIs('AWS::EFS::FileSystem', 1);
      template.hasResource('AWS::EFS::FileSystem', {
        DeletionPolicy: 'Retain',
        Properties: Match.objectLike({ Encrypted: true, BackupPolicy: { Status: 'ENABLED' } }),
      });
      template.resourceCountIs('AWS::EFS::AccessPoint', segmentsPerPg);
      for (const node of ecsVolumeConfig(clusterName, region).nodes) {
        template.hasResourceProperties('AWS::EFS::AccessPoint', {
          RootDirectory: {
            Path: `/nodes/${node.id}`,
            CreationInfo: { OwnerUid: containerUid, OwnerGid: containerUid, Permissions: '750' },
          },
          PosixUser: { Uid: containerUid, Gid: containerUid },
        });
      }
    });

    it('each storage node mounts its own access point at the data dir, encrypted in transit, IAM-authorized', () => {
      compute.storageNodes.forEach((service, i) => {
        const taskProps = resources[logicalId(stack, service.taskDefinition)]!.Properties as unknown as {
          Volumes: Array<{ Name: string; EFSVolumeConfiguration: Record<string, unknown> }>;
          ContainerDefinitions: Array<{ MountPoints: unknown[] }>;
        };
        expect(taskProps.Volumes).toEqual([
          {
            Name: 'data',
            EFSVolumeConfiguration: {
              FilesystemId: stack.resolve(compute.fileSystem.fileSystemId),
              TransitEncryption: 'ENABLED',
              AuthorizationConfig: {
                AccessPointId: stack.resolve(compute.accessPoints[i]!.accessPointId),
                IAM: 'ENABLED',
              },
            },
          },
        ]);
        expect(taskProps.ContainerDefinitions[0]!.MountPoints).toEqual([
          { ContainerPath: ecsDataDir, SourceVolume: 'data', ReadOnly: false },
        ]);
      });
    });

    it('a storage node’s task role may mount and write through its own access point only', () => {
      compute.storageNodes.forEach((service, i) => {
        const statements = statementsOfRole(service.taskDefinition.taskRole);
        expect(statements.map(({ policy: _, ...s }) => s)).toEqual([
          {
            Sid: 'NodeVolume',
            Effect: 'Allow',
            Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
            Resource: stack.resolve(compute.fileSystem.fileSystemArn),
            Condition: {
              StringEquals: {
                'elasticfilesystem:AccessPointArn': stack.resolve(compute.accessPoints[i]!.accessPointArn),
              },
            },
          },
        ]);
      });
    });

    it('the control plane and the proxy are services named in Cloud Map; no service runs instances', () => {
      template.resourceCountIs('AWS::ECS::Service', segmentsPerPg + 2);
      for (const service of [compute.controlPlane, compute.proxy]) {
        expect(resources[logicalId(stack, service)]!.Properties.DesiredCount).toBe(1);
      }
      for (const name of ['n1', 'n6', 'control-plane', 'proxy']) {
        template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
          Name: name,
          DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'A', TTL: 10 }] }),
        });
      }
      const command = JSON.stringify(stack.resolve(containerOf(compute.controlPlane).Command));
      expect(command).toContain(`services/control-plane/main.ts`);
      expect(command).toContain(`'--fleet' 'ecs'`);
      expect(command).toContain(`--advertise-address 'control-plane.${cloudMapNamespace(clusterName)}'`);
      expect(containerOf(compute.proxy).Command.join(' ')).toContain(
        `'--control-plane' 'http://control-plane.${cloudMapNamespace(clusterName)}:${ecsPorts.controlPlane}'`,
      );
    });

    it('the control plane’s environment names what its ECS fleet runs: cluster, task definitions, subnets per AZ, group, node services', () => {
      const env = Object.fromEntries(
        containerOf(compute.controlPlane).Environment.map((e) => [e.Name, stack.resolve(e.Value)]),
      );
      expect(env[ecsFleetVariables.cluster]).toEqual(stack.resolve(compute.cluster.clusterName));
      expect(env[ecsFleetVariables.writerTaskDefinition]).toEqual(
        stack.resolve(compute.writerTask.taskDefinitionArn),
      );
      expect(env[ecsFleetVariables.readerTaskDefinition]).toEqual(
        stack.resolve(compute.readerTask.taskDefinitionArn),
      );
      expect(env[ecsFleetVariables.securityGroups]).toEqual(
        stack.resolve(compute.securityGroups.instances.securityGroupId),
      );
      const subnets = JSON.stringify(env[ecsFleetVariables.subnets]);
      for (const az of clusterAzs(region)) {
        const subnet = compute.vpc.privateSubnets.find((s) => s.availabilityZone === az)!;
        expect(subnets).toContain(az);
        expect(subnets).toContain(JSON.stringify(stack.resolve(subnet.subnetId)));
      }
      const services = JSON.stringify(env[ecsFleetVariables.storageServices]);
      for (const service of compute.storageNodes) {
        expect(services).toContain(JSON.stringify(stack.resolve(service.serviceName)));
      }
    });

    it('the writer and reader task definitions run the writer and reader, advertising the task’s own IP', () => {
      for (const [task, entry] of [
        [compute.writerTask, 'services/writer/main.ts'],
        [compute.readerTask, 'services/reader/main.ts'],
      ] as const) {
        const container = resources[logicalId(stack, task)]!.Properties.ContainerDefinitions[0]!;
        expect(container.Command.join(' ')).toContain(`${entry} --volume-config`);
        expect(container.Command.join(' ')).toContain(
          '--advertise-address "$(node -e \'fetch(process.env.ECS_CONTAINER_METADATA_URI_V4)',
        );
        expect((container as unknown as { StopTimeout: number }).StopTimeout).toBe(
          instanceStopTimeout.toSeconds(),
        );
      }
    });

    it('the control plane’s task role: RunTask on the two instance task definitions, follow and stop the cluster’s tasks, scale the node services, pass the instance roles', () => {
      const statements = statementsOfRole(compute.controlPlane.taskDefinition.taskRole).map(
        ({ policy: _, ...s }) => s,
      );
      const clusterArn = stack.resolve(compute.cluster.clusterArn);
      const tasks = {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            `:ecs:${region}:`,
            { Ref: 'AWS::AccountId' },
            `:task/${clusterName}/*`,
          ],
        ],
      };
      const roles = [compute.writerTask, compute.readerTask].flatMap((t) => [
        stack.resolve(t.taskRole.roleArn),
        stack.resolve(t.obtainExecutionRole().roleArn),
      ]);
      expect(statements).toEqual([
        {
          Sid: 'RunInstances',
          Effect: 'Allow',
          Action: 'ecs:RunTask',
          Resource: [
            stack.resolve(compute.writerTask.taskDefinitionArn),
            stack.resolve(compute.readerTask.taskDefinitionArn),
          ],
          Condition: { ArnEquals: { 'ecs:cluster': clusterArn } },
        },
        {
          Sid: 'TagInstances',
          Effect: 'Allow',
          Action: 'ecs:TagResource',
          Resource: tasks,
          Condition: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
        },
        {
          Sid: 'FollowTasks',
          Effect: 'Allow',
          Action: ['ecs:DescribeTasks', 'ecs:StopTask'],
          Resource: tasks,
          Condition: { ArnEquals: { 'ecs:cluster': clusterArn } },
        },
        {
          Sid: 'ListNodeTasks',
          Effect: 'Allow',
          Action: 'ecs:ListTasks',
          Resource: '*',
          Condition: { ArnEquals: { 'ecs:cluster': clusterArn } },
        },
        {
          Sid: 'StorageNodes',
          Effect: 'Allow',
          Action: 'ecs:UpdateService',
          Resource: compute.storageNodes.map((s) => stack.resolve(s.serviceArn)),
        },
        {
          Sid: 'PassInstanceRoles',
          Effect: 'Allow',
          Action: 'iam:PassRole',
          Resource: roles,
          Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        },
        {
          Sid: 'Topology',
          Effect: 'Allow',
          Action: ['ssm:PutParameter', 'ssm:GetParameter'],
          Resource: stack.resolve(stack.topology.parameter.parameterArn),
        },
      ]);
    });

    it('every function runs in the private subnets with the functions’ security group', () => {
      const subnets = compute.vpc.privateSubnets.map((s) => stack.resolve(s.subnetId));
      for (const fn of Object.values(stack.functions.functions)) {
        const props = resources[logicalId(stack, fn)]!.Properties as unknown as {
          VpcConfig: { SubnetIds: unknown[]; SecurityGroupIds: unknown[] };
        };
        expect(props.VpcConfig).toEqual({
          SubnetIds: subnets,
          SecurityGroupIds: [stack.resolve(compute.securityGroups.functions.securityGroupId)],
        });
      }
    });

    it('security groups: each port open only to the roles that use it', () => {
      const sg = compute.securityGroups;
      const id = (g: { securityGroupId: string }) => stack.resolve(g.securityGroupId);
      const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => {
        const p = r.Properties as Record<string, unknown>;
        return {
          to: stack.resolve(p.GroupId),
          from: p.SourceSecurityGroupId ?? p.CidrIp,
          port: p.FromPort,
        };
      });
      const inline = Object.entries(template.findResources('AWS::EC2::SecurityGroup')).flatMap(([lid, r]) =>
        (
          (r.Properties as { SecurityGroupIngress?: Array<Record<string, unknown>> }).SecurityGroupIngress ??
          []
        ).map((rule) => ({
          to: { 'Fn::GetAtt': [lid, 'GroupId'] },
          from: rule.SourceSecurityGroupId ?? rule.CidrIp,
          port: rule.FromPort,
        })),
      );
      const rules = [...ingress, ...inline];
      const sources = (group: { securityGroupId: string }, port: number) =>
        rules
          .filter((r) => JSON.stringify(r.to) === JSON.stringify(id(group)) && r.port === port)
          .map((r) => r.from);
      expect(sources(sg.storage, ecsPorts.storage)).toEqual(
        expect.arrayContaining([id(sg.instances), id(sg.storage), id(sg.functions)]),
      );
      expect(sources(sg.storage, ecsPorts.storage)).toHaveLength(3);
      expect(sources(sg.storage, ecsPorts.storageHttp)).toEqual([id(sg.controlPlane)]);
      expect(sources(sg.instances, ecsPorts.dataApi)).toEqual([id(sg.proxy)]);
      expect(sources(sg.instances, ecsPorts.redo)).toEqual([id(sg.instances)]);
      expect(sources(sg.instances, ecsPorts.instanceHttp)).toEqual(
        expect.arrayContaining([id(sg.controlPlane), id(sg.functions)]),
      );
      expect(sources(sg.controlPlane, ecsPorts.controlPlane)).toEqual(
        expect.arrayContaining([id(sg.proxy), id(sg.functions)]),
      );
      expect(sources(sg.proxy, ecsPorts.proxyWriter)).toEqual([id(sg.clients)]);
      expect(sources(sg.proxy, ecsPorts.proxyReader)).toEqual([id(sg.clients)]);
      expect(sources(sg.fileSystem, 2049)).toEqual([id(sg.storage)]);
      expect(sources(sg.functions, ecsPorts.storage)).toEqual([]);
    });

    it('every container runs the one image asset, logs to CloudWatch, and gets a valid volume config', () => {
      const tasks = [
        ...compute.storageNodes.map((s) => s.taskDefinition),
        compute.writerTask,
        compute.readerTask,
        compute.controlPlane.taskDefinition,
        compute.proxy.taskDefinition,
      ];
      const containers = tasks.map(
        (t) => resources[logicalId(stack, t)]!.Properties.ContainerDefinitions[0]!,
      );
      expect(new Set(containers.map((c) => JSON.stringify(c.Image))).size).toBe(1);
      for (const container of containers) {
        expect(container.LogConfiguration.LogDriver).toBe('awslogs');
        const volume = JSON.parse(
          container.Environment.find((e) => e.Name === 'BOREALIS_VOLUME_CONFIG')!.Value,
        );
        expect(validateVolumeConfig(volume as VolumeConfig)).toEqual(ecsVolumeConfig(clusterName, region));
      }
    });

    it('the writer task may put to the redo stream and read only the archive watermark', () => {
      const statements = statementsOfRole(compute.writerTask.taskRole);
      const bucketId = logicalId(stack, stack.backup.bucket);
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: expect.arrayContaining(['kinesis:PutRecord', 'kinesis:PutRecords']),
            Resource: { 'Fn::GetAtt': [logicalId(stack, stack.streams.redo), 'Arn'] },
          }),
          expect.objectContaining({
            Sid: 'Watermark',
            Action: 's3:GetObject',
            Resource: {
              'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${watermarkKey(clusterName)}`]],
            },
          }),
        ]),
      );
    });

    it('no wildcard action; a `*` resource only for ecr:GetAuthorizationToken, ENI management and ecs:ListTasks in this cluster', () => {
      const eniActions = [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ];
      for (const s of iamStatements(template)) {
        for (const action of actionsOf(s)) expect(action, s.policy).not.toContain('*');
        if (!resourcesOf(s).includes('*')) continue;
        const actions = actionsOf(s);
        if (actions.includes('ecs:ListTasks')) {
          expect(actions).toEqual(['ecs:ListTasks']);
          expect((s as { Condition?: unknown }).Condition).toEqual({
            ArnEquals: { 'ecs:cluster': stack.resolve(compute.cluster.clusterArn) },
          });
        } else if (actions.includes('ecr:GetAuthorizationToken')) {
          expect(actions, s.policy).toEqual(['ecr:GetAuthorizationToken']);
        } else {
          expect(actions, s.policy).toEqual(eniActions);
        }
      }
    });

    it('removal policies: data retained, logs and compute removed', () => {
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
      template.hasResource('AWS::EFS::FileSystem', { DeletionPolicy: 'Retain' });
      for (const group of Object.values(template.findResources('AWS::Logs::LogGroup'))) {
        expect(group.DeletionPolicy).toBe('Delete');
      }
      for (const service of Object.values(template.findResources('AWS::ECS::Service'))) {
        expect(service.DeletionPolicy).toBeUndefined();
      }
    });

    it('passes the AwsSolutions pack: no error or warning left unacknowledged', () => {
      expect(nagFindings(stack, 'error')).toEqual([]);
      expect(nagFindings(stack, 'warning')).toEqual([]);
    });
  });
}

describe('container image asset', () => {
  it('is the repository Dockerfile (copied at synth, built at deploy)', () => {
    const assets = JSON.parse(readFileSync(join(synthesized.assemblyDir, 'Primary.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string } }>;
    };
    const images = Object.values(assets.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source.dockerFile).toBe('Dockerfile');
  });
});
