// Every Lambda function of core/functions.ts as a NodejsFunction (the middy handler in
// functions/<dir>/index.ts, bundled here with the local esbuild), each with its own role and log
// group. Triggers are wired by FunctionTriggers; what each function may touch is granted here,
// action by action, on the named resources only.
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { binlogPrefix } from '../../../core/binlog/retention.ts';
import { topologyParameterName } from '../../../core/cluster/topology-store.ts';
import {
  type FunctionDefinition,
  type FunctionName,
  functionDefinitions,
  functionEnv,
  functionEnvironment,
} from '../../../core/functions.ts';
import type { RegionalResources } from '../../../core/resources.ts';
import { functionEntry, lockFile, repoRoot } from '../paths.ts';

/** What a function does with the region's resources; turned into IAM statements below. */
interface FunctionAccess {
  /** Object actions on the backup bucket (ListBucket is granted with any of them). */
  objects: Array<'s3:GetObject' | 's3:PutObject' | 's3:DeleteObject'>;
  /** Only the keys under `clusters/<cluster>/binlog/` (binlogObjectPrefix), not the whole bucket. */
  binlogObjectsOnly?: boolean;
  /** Reads the topology parameter (the cluster's endpoints). */
  readsTopology: boolean;
  /** Puts events on the region's default bus (restore: Completed / Failed). */
  putsEvents: boolean;
  /** Puts row events on the region's binlog stream (binlog-streamer: kinesis:PutRecords). */
  putsBinlog?: boolean;
  /**
   * Reads the Global Database peer region's topology parameter (global-replicator: where the other
   * region's replica applier is). Only with FunctionsProps.globalPeerRegion.
   */
  readsPeerTopology?: boolean;
  /**
   * Asks for new clusters on the provision queue and follows them (restore, deployed mode):
   * sqs:SendMessage on the queue, ssm:GetParameter on every cluster's topology and provision status.
   */
  provisions?: boolean;
}

export const functionAccess: Readonly<Record<FunctionName, FunctionAccess>> = {
  // Watermark read and write, log chunks written, the chunk listing for the gap-free chain.
  'backup-archiver': { objects: ['s3:GetObject', 's3:PutObject'], readsTopology: false, putsEvents: false },
  // Manifests and content-addressed pages (reads the previous manifest to stay incremental).
  snapshot: { objects: ['s3:GetObject', 's3:PutObject'], readsTopology: true, putsEvents: false },
  // Reads the archive to plan; asks for the new cluster on the provision queue (a job too large
  // for one message is put in the bucket: the claim check) and follows its topology (any
  // cluster's, not only this one's: hence `provisions`); answers on EventBridge.
  restore: {
    objects: ['s3:GetObject', 's3:PutObject'],
    readsTopology: false,
    putsEvents: true,
    provisions: true,
  },
  // Lists and reads manifests and chunks, deletes what left the window.
  'backup-retention': {
    objects: ['s3:GetObject', 's3:DeleteObject'],
    readsTopology: false,
    putsEvents: false,
  },
  // Reads a snapshot's manifest and packs; writes Parquet, metadata and its task record.
  'snapshot-export': { objects: ['s3:GetObject', 's3:PutObject'], readsTopology: false, putsEvents: false },
  // Row events onto the binlog stream; fragments of oversized changes (written, read back, deleted)
  // and envelopes too large for a Kinesis record in the bucket.
  // Only under clusters/<cluster>/binlog/: it deletes, and must never reach the backups themselves.
  'binlog-streamer': {
    objects: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
    binlogObjectsOnly: true,
    readsTopology: false,
    putsEvents: false,
    putsBinlog: true,
  },
  // No backup objects: it only reads the peer region's topology and calls its replica applier (the
  // network path between the regions' VPCs, with compute=ecs, is not wired yet: docs/global.md).
  'global-replicator': { objects: [], readsTopology: false, readsPeerTopology: true, putsEvents: false },
};

/** The topology parameter of the same cluster in the Global Database's other region. */
export function peerTopologyArn(stack: Stack, peerRegion: string, clusterName: string): string {
  return stack.formatArn({
    service: 'ssm',
    region: peerRegion,
    resource: 'parameter',
    resourceName: topologyParameterName(clusterName).replace(/^\//, ''),
  });
}

/** Where the binlog streamer keeps fragments and large envelopes (functions/binlog-streamer/). */
export function binlogObjectPrefix(clusterName: string): string {
  return binlogPrefix(clusterName);
}

/** Lambda logs: long enough to investigate a failed restore or archiver batch. */
export const functionLogRetention = logs.RetentionDays.ONE_MONTH;

/**
 * ESM bundle. Some bundled dependencies (pino, the AWS SDK's CJS parts) call `require` for Node
 * built-ins, which an ESM bundle lacks: the banner gives the module a real one.
 */
const esmRequireBanner =
  "import { createRequire as __borealisCreateRequire } from 'node:module'; const require = __borealisCreateRequire(import.meta.url);";

export interface FunctionsProps {
  clusterName: string;
  resources: RegionalResources;
  bucket: s3.IBucket;
  bucketKey: kms.IKey;
  topology: ssm.IStringParameter;
  /** The region's provision queue (restore: PROVISION_QUEUE_URL and SendMessage). */
  provisionQueue?: sqs.IQueue;
  /** The region's binlog stream (binlog-streamer: PutRecords). */
  binlogStream?: kinesis.IStream;
  /** BACKUP_RETENTION_DAYS for every function (1–35); unset: the functions' default. */
  backupRetentionDays?: number;
  /**
   * The Global Database's other region: this region's global-replicator carries this region's redo to
   * the cluster there (GLOBAL_SECONDARY_REGION) and may read its topology parameter. Unset: no
   * Global Database (the replicator has nothing to do).
   */
  globalPeerRegion?: string;
  /** compute=ecs: the cluster's VPC, subnets and the functions' security group (EcsCompute.functionNetwork). */
  network?: Pick<lambda.FunctionOptions, 'vpc' | 'vpcSubnets' | 'securityGroups'>;
}

export class Functions extends Construct {
  readonly functions: Readonly<Record<FunctionName, nodejs.NodejsFunction>>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const environment = functionEnvironment(props.resources, props.clusterName, {
      ...(props.backupRetentionDays === undefined ? {} : { backupRetentionDays: props.backupRetentionDays }),
    });
    const built: Partial<Record<FunctionName, nodejs.NodejsFunction>> = {};
    for (const definition of Object.values(functionDefinitions)) {
      built[definition.name] = this.#function(definition, environment, props);
    }
    this.functions = built as Record<FunctionName, nodejs.NodejsFunction>;
  }

  #function(
    definition: FunctionDefinition,
    environment: Record<string, string>,
    props: FunctionsProps,
  ): nodejs.NodejsFunction {
    const scope = new Construct(this, definition.name);
    const functionName = `${props.clusterName}-${definition.name}`;
    const logGroup = new logs.LogGroup(scope, 'Logs', {
      logGroupName: `/aws/lambda/${functionName}`,
      retention: functionLogRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Borealis ${definition.name} (${props.clusterName})`,
    });
    logGroup.grantWrite(role);
    this.#grant(role, functionAccess[definition.name], props);

    const fn = new nodejs.NodejsFunction(scope, 'Function', {
      functionName,
      entry: functionEntry(definition.directory),
      handler: 'handler',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.X86_64,
      memorySize: definition.memoryMb,
      timeout: Duration.seconds(definition.timeoutSeconds),
      environment: {
        ...environment,
        ...(functionAccess[definition.name].provisions && props.provisionQueue
          ? { [functionEnv.provisionQueueUrl]: props.provisionQueue.queueUrl }
          : {}),
        ...(functionAccess[definition.name].readsPeerTopology && props.globalPeerRegion
          ? {
              [functionEnv.globalSecondaryRegion]: props.globalPeerRegion,
              [functionEnv.globalSecondaryCluster]: props.clusterName,
            }
          : {}),
      },
      role,
      logGroup,
      ...props.network,
      projectRoot: repoRoot,
      depsLockFilePath: lockFile,
      bundling: {
        forceDockerBundling: false,
        format: nodejs.OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: esmRequireBanner,
        logLevel: nodejs.LogLevel.ERROR,
        // Bundle the pinned AWS SDK too, not the runtime's copy: the same code as in tests.
        externalModules: [],
        // Files the code reads from disk beside index.mjs (snapshot-export: wa-sqlite's wasm).
        ...(definition.bundledFiles?.length
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_input: string, output: string) =>
                  definition.bundledFiles!.map((file) => `cp "${repoRoot}node_modules/${file}" "${output}/"`),
              },
            }
          : {}),
      },
    });
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'NODEJS_22_X is the newest runtime the project builds and tests for (Node 20/22 toolchain, ' +
        '@middy/core 6); moving to a newer runtime is a deliberate upgrade, not a synth-time default.',
    });
    return fn;
  }

  #grant(role: iam.Role, access: FunctionAccess, props: FunctionsProps): void {
    if (access.readsPeerTopology && props.globalPeerRegion) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'PeerTopology',
          actions: ['ssm:GetParameter'],
          resources: [peerTopologyArn(Stack.of(this), props.globalPeerRegion, props.clusterName)],
        }),
      );
    }
    // A function that touches no backup object gets no bucket or key statement at all.
    if (access.objects.length === 0) return;
    const writes = access.objects.includes('s3:PutObject');
    const objectKeys = access.binlogObjectsOnly ? binlogObjectPrefix(props.clusterName) : '';
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'BackupObjects',
        actions: [...access.objects],
        resources: [props.bucket.arnForObjects(`${objectKeys}*`)],
      }),
    );
    const bucketLogicalId = Stack.of(this).resolve(
      (props.bucket.node.defaultChild as s3.CfnBucket).logicalId,
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${objectKeys}*]`,
      reason:
        'Backup object keys are LSN-named and content-addressed, created at run time, so no fixed key can ' +
        'be named: the grant covers the objects of this one bucket, with exact actions only.',
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'BackupListing',
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'BackupKey',
        actions: writes ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
        resources: [props.bucketKey.keyArn],
      }),
    );
    if (access.readsTopology) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'Topology',
          actions: ['ssm:GetParameter'],
          resources: [props.topology.parameterArn],
        }),
      );
    }
    if (access.provisions && props.provisionQueue) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ProvisionRequests',
          actions: ['sqs:SendMessage'],
          resources: [props.provisionQueue.queueArn],
        }),
      );
      const stack = Stack.of(this);
      const parameters = ['topology', 'provision'].map((leaf) =>
        stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `borealis/*/${leaf}` }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'ProvisionedClusters',
          actions: ['ssm:GetParameter'],
          resources: parameters,
        }),
      );
      // cdk-nag names the region as the template has it: a literal in a stack with an env.
      const regionInFinding = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
      for (const leaf of ['topology', 'provision']) {
        Validations.of(role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:${regionInFinding}:<AWS::AccountId>:parameter/borealis/*/${leaf}]`,
          reason:
            'A restore creates a cluster whose name arrives in the request, so its parameters cannot be ' +
            `named at deploy time: read-only GetParameter on /borealis/<cluster>/${leaf} of any cluster in this ` +
            'account and region, nothing else under the prefix.',
        });
      }
    }
    if (access.putsBinlog && props.binlogStream) {
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'BinlogEvents',
          actions: ['kinesis:PutRecords'],
          resources: [props.binlogStream.streamArn],
        }),
      );
    }
    if (access.putsEvents) {
      const stack = Stack.of(this);
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'Events',
          actions: ['events:PutEvents'],
          resources: [stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' })],
        }),
      );
    }
  }
}
