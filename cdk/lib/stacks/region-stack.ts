// One stack per region: everything regional a Borealis cluster needs in AWS (or LocalStack) —
// backup storage, streams, the topology parameter, the functions with their triggers, and with
// compute=ecs the cluster's processes on Fargate. One construct per concern; names and sizes from
// core/resources.ts, function settings from core/functions.ts.
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { regionalResources } from '../../../core/resources.ts';
import { BackupStorage } from '../constructs/backup-storage.ts';
import { EcsCompute } from '../constructs/ecs-compute.ts';
import { Functions } from '../constructs/functions.ts';
import { ProvisionQueue } from '../constructs/provision-queue.ts';
import { Streams } from '../constructs/streams.ts';
import { TopologyParameter } from '../constructs/topology.ts';
import { FunctionTriggers } from '../constructs/triggers.ts';

/** external: the services run elsewhere (`borealis up`) and register in SSM; ecs: on Fargate here. */
export type ComputeMode = 'external' | 'ecs';
export const computeModes: readonly ComputeMode[] = ['external', 'ecs'];

export interface RegionStackProps extends StackProps {
  clusterName: string;
  region: string;
  compute: ComputeMode;
  backupRetentionDays?: number;
  /** Shards of the binlog stream (core/resources.ts's default when unset). */
  binlogShardCount?: number;
  /** The Global Database's other region (its global-replicator targets the cluster there). */
  globalPeerRegion?: string;
}

export class RegionStack extends Stack {
  readonly backup: BackupStorage;
  readonly streams: Streams;
  readonly topology: TopologyParameter;
  readonly provision: ProvisionQueue;
  readonly functions: Functions;
  readonly triggers: FunctionTriggers;
  readonly compute: EcsCompute | undefined;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, { ...props, env: { region: props.region } });
    const resources = regionalResources(props.region, props.clusterName, {
      ...(props.binlogShardCount === undefined ? {} : { binlogShardCount: props.binlogShardCount }),
    });
    this.backup = new BackupStorage(this, 'Backup', { bucketName: resources.backupBucket });
    this.streams = new Streams(this, 'Streams', {
      redo: resources.redoStream,
      binlog: resources.binlogStream,
    });
    this.topology = new TopologyParameter(this, 'Topology', { clusterName: props.clusterName });
    this.provision = new ProvisionQueue(this, 'Provision', { queueName: resources.provisionQueue });
    // Before the functions: with compute=ecs they run in its VPC, to reach the storage nodes and writer.
    this.compute =
      props.compute === 'ecs'
        ? new EcsCompute(this, 'Compute', {
            clusterName: props.clusterName,
            region: props.region,
            redoStream: this.streams.redo,
            bucket: this.backup.bucket,
            bucketKey: this.backup.key,
            topology: this.topology.parameter,
          })
        : undefined;
    this.functions = new Functions(this, 'Functions', {
      clusterName: props.clusterName,
      resources,
      bucket: this.backup.bucket,
      bucketKey: this.backup.key,
      topology: this.topology.parameter,
      provisionQueue: this.provision.queue,
      binlogStream: this.streams.binlog,
      ...(props.globalPeerRegion === undefined ? {} : { globalPeerRegion: props.globalPeerRegion }),
      ...(props.backupRetentionDays === undefined ? {} : { backupRetentionDays: props.backupRetentionDays }),
      ...(this.compute ? { network: this.compute.functionNetwork } : {}),
    });
    for (const fn of Object.values(this.functions.functions)) this.compute?.grantFunctionNetworking(fn.role!);
    this.triggers = new FunctionTriggers(this, 'Triggers', {
      functions: this.functions.functions,
      streams: { redoStream: this.streams.redo, binlogStream: this.streams.binlog },
    });
  }
}
