// compute=ecs in both regions: a three-AZ VPC, six storage nodes pinned two per AZ, the writer and
// the readers on Fargate from one image asset (the repo's Dockerfile), Cloud Map names, task roles
// scoped to the stream and the watermark, and the AwsSolutions pack — beside the same regional
// resources and functions as compute=external.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { watermarkKey } from '../../core/backup/archive.ts';
import { functionDefinitions } from '../../core/functions.ts';
import { azCount, segmentsPerPg } from '../../core/limits.ts';
import { type VolumeConfig, validateVolumeConfig } from '../../core/volume.ts';
import {
  cloudMapNamespace,
  clusterAzs,
  ecsVolumeConfig,
  readerCount,
  redoPort,
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

    it('six storage nodes, one task each, pinned to their AZ’s private subnet', () => {
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
        expect(command).toContain(`'--id' '${node.id}' '--az' '${node.az}'`);
      });
      const perAz = clusterAzs(region).map((az) => volume.nodes.filter((n) => n.az === az).length);
      expect(perAz).toEqual([2, 2, 2]);
    });

    it('the writer and the readers, with Cloud Map names', () => {
      template.resourceCountIs('AWS::ECS::Service', segmentsPerPg + 2);
      expect(resources[logicalId(stack, compute.writer)]!.Properties.DesiredCount).toBe(1);
      expect(resources[logicalId(stack, compute.readers)]!.Properties.DesiredCount).toBe(readerCount);
      const writerCommand = JSON.stringify(stack.resolve(containerOf(compute.writer).Command));
      expect(writerCommand).toContain('services/writer/main.ts');
      expect(writerCommand).toContain(`'--redo-stream' '`);
      expect(writerCommand).toContain(logicalId(stack, stack.streams.redo));
      expect(containerOf(compute.readers).Command.join(' ')).toContain(
        `'--writer-redo' 'writer.${cloudMapNamespace(clusterName)}:${redoPort}'`,
      );
      for (const name of ['n1', 'n6', 'writer', 'reader']) {
        template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
          Name: name,
          DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'A', TTL: 10 }] }),
        });
      }
    });

    it('every container runs the one image asset, logs to CloudWatch, and gets a valid volume config', () => {
      const services = [...compute.storageNodes, compute.writer, compute.readers];
      const images = new Set(services.map((s) => JSON.stringify(containerOf(s).Image)));
      expect(images.size).toBe(1);
      for (const service of services) {
        const container = containerOf(service);
        expect(container.LogConfiguration.LogDriver).toBe('awslogs');
        const volume = JSON.parse(
          container.Environment.find((e) => e.Name === 'BOREALIS_VOLUME_CONFIG')!.Value,
        );
        expect(validateVolumeConfig(volume as VolumeConfig)).toEqual(ecsVolumeConfig(clusterName, region));
      }
    });

    it('the writer may put to the redo stream and read only the archive watermark', () => {
      const writerRole = logicalId(stack, compute.writer.taskDefinition.taskRole as never);
      const statements = iamStatements(template).filter((s) =>
        resources[s.policy]!.Properties.Roles.some((r) => r.Ref === writerRole),
      );
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

    it('no wildcard action; a `*` resource only for ecr:GetAuthorizationToken', () => {
      for (const s of iamStatements(template)) {
        for (const action of actionsOf(s)) expect(action, s.policy).not.toContain('*');
        if (resourcesOf(s).includes('*'))
          expect(actionsOf(s), s.policy).toEqual(['ecr:GetAuthorizationToken']);
      }
    });

    it('removal policies: data retained, logs and compute removed', () => {
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
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
