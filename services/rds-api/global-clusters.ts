// The RDS API's global cluster actions over the Global Database run on this machine (`npm start --
// --global`, its members in <state dir>/global.json): DescribeGlobalClusters, SwitchoverGlobalCluster
// and FailoverGlobalCluster (AllowDataLoss: an unplanned failover at what the target holds; without
// it a switchover, as on AWS). The role changes are core/global/role-change.ts — the code `borealis
// global switchover|failover` runs — prepared in the call (every refusal is an RDS error and changes
// nothing) and then run on after the answer, as RDS answers at once with the global cluster
// `switching-over` / `failing-over`. One change at a time whoever asks (either region's API, the CLI):
// the lock beside global.json, which DescribeGlobalClusters reads for Status and FailoverState.
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { applierHealth, getJson } from '../../core/global/member-http.ts';
import {
  GlobalRoleChangeError,
  type PreparedRoleChange,
  prepareFailover,
  prepareSwitchover,
  type RoleChangeContext,
  runFailover,
  runSwitchover,
} from '../../core/global/role-change.ts';
import {
  type GlobalMember,
  type GlobalState,
  readGlobalState,
  readRoleChange,
} from '../../core/global/state-file.ts';
import { globalStatus } from '../../core/global/status.ts';
import type { Logger } from '../../core/log.ts';
import { page, type QueryParams, RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import { auroraEngine, auroraEngineVersion } from '../../core/rds/shapes.ts';
import type { RdsAction } from './api.ts';

export interface GlobalClustersOptions {
  region: string;
  /** The state dir holding global.json (embedded mode); undefined: no Global Database here. */
  stateDir: string | undefined;
  s3For: (region: string) => S3Client;
  logger: Logger;
}

/** `arn:aws:rds:REGION:ACCOUNT:cluster:NAME` → its region and name. */
function parseClusterArn(arn: string): { region: string; name: string } | undefined {
  const m = /^arn:aws[a-z-]*:rds:([a-z0-9-]+):\d{12}:cluster:([A-Za-z0-9-]+)$/.exec(arn);
  return m ? { region: m[1]!, name: m[2]! } : undefined;
}

function accountOf(state: GlobalState): string {
  const arn = state.globalWriter?.globalClusterArn;
  return arn?.split(':')[4] || '000000000000';
}

function memberArn(state: GlobalState, member: GlobalMember, status: ClusterStatus | undefined): string {
  return status?.resourceArn ?? `arn:aws:rds:${member.region}:${accountOf(state)}:cluster:${member.cluster}`;
}

export class GlobalClusters {
  constructor(private readonly options: GlobalClustersOptions) {}

  actions(): Record<string, RdsAction> {
    return {
      DescribeGlobalClusters: (p) => this.#describe(p),
      SwitchoverGlobalCluster: (p) => this.#switchover(p),
      FailoverGlobalCluster: (p) => this.#failover(p),
    };
  }

  #state(): GlobalState | undefined {
    return this.options.stateDir === undefined ? undefined : readGlobalState(this.options.stateDir);
  }

  /** The global cluster named `identifier` (its name or ARN), or GlobalClusterNotFoundFault. */
  #require(identifier: string): GlobalState {
    const state = this.#state();
    // RDS matches identifiers case-insensitively (it keeps them lowercase).
    if (
      state === undefined ||
      (identifier.toLowerCase() !== globalName(state) && identifier !== globalArn(state))
    ) {
      throw new RdsApiError(
        'GlobalClusterNotFoundFault',
        `GlobalCluster ${identifier} not found${state === undefined ? ' (this machine runs no Global Database: `npm start -- --global`)' : ''}.`,
        404,
      );
    }
    return state;
  }

  async #shape(state: GlobalState): Promise<XmlStruct> {
    const members = [
      { member: state.primary, isWriter: true },
      ...state.secondaries.map((member) => ({ member, isWriter: false })),
    ];
    const inputs = await Promise.all(
      members.map(async ({ member, isWriter }) => {
        const status = await getJson<ClusterStatus>(`${member.controlPlaneUrl}/status`);
        return {
          member,
          region: member.region,
          isWriter,
          status,
          ...(isWriter ? {} : { applier: await applierHealth(status) }),
        };
      }),
    );
    const view = globalStatus(state.primary.cluster, inputs, Date.now(), state.globalWriter);
    const arns = inputs.map((i) => memberArn(state, i.member, i.status));
    const change = this.options.stateDir === undefined ? undefined : readRoleChange(this.options.stateDir);
    const arnOfRegion = (region: string) => arns[inputs.findIndex((i) => i.region === region)];
    return {
      GlobalClusterIdentifier: globalName(state),
      GlobalClusterResourceId: globalResourceId(state),
      GlobalClusterArn: globalArn(state),
      Status:
        change === undefined ? 'available' : change.kind === 'switchover' ? 'switching-over' : 'failing-over',
      Engine: auroraEngine,
      EngineVersion: auroraEngineVersion,
      StorageEncrypted: false,
      DeletionProtection: false,
      GlobalClusterMembers: {
        GlobalClusterMember: inputs.map((input, i) => ({
          DBClusterArn: arns[i],
          // The writer's readers are the secondaries; a secondary lists none (RDS's shape).
          Readers: { member: input.isWriter ? arns.filter((_, j) => j !== i) : [] },
          IsWriter: input.isWriter,
          GlobalWriteForwardingStatus: 'disabled',
          ...(input.isWriter
            ? {}
            : {
                SynchronizationStatus:
                  view.members.find((m) => m.region === input.region)?.synchronizationStatus ??
                  'pending-resync',
              }),
        })),
      },
      ...(change === undefined
        ? {}
        : {
            FailoverState: {
              Status: 'failing-over',
              FromDbClusterArn: arnOfRegion(change.from),
              ToDbClusterArn: arnOfRegion(change.to),
              IsDataLossAllowed: change.allowDataLoss,
            },
          }),
    };
  }

  async #describe(params: QueryParams): Promise<XmlStruct> {
    const identifier = params.string('GlobalClusterIdentifier');
    for (const f of params.filters()) {
      throw new RdsApiError('InvalidParameterValue', `Unrecognized filter name: ${f.name}`);
    }
    const state = identifier === undefined ? this.#state() : this.#require(identifier);
    const all = state === undefined ? [] : [{ name: globalName(state), shape: await this.#shape(state) }];
    const { items, marker } = page(all, (g) => g.name, params);
    return { GlobalClusters: { GlobalClusterMember: items.map((g) => g.shape) }, Marker: marker };
  }

  /** TargetDbClusterIdentifier (an ARN, or the name of exactly one secondary) → its region. */
  #targetRegion(state: GlobalState, identifier: string): string {
    const members = [state.primary, ...state.secondaries];
    const arn = parseClusterArn(identifier);
    if (arn !== undefined) {
      const member = members.find((m) => m.region === arn.region && m.cluster === arn.name);
      if (member !== undefined) return member.region;
    } else {
      // Every member has the global cluster's name here: a name picks the one secondary, if one.
      const named = state.secondaries.filter((m) => m.cluster === identifier.toLowerCase());
      if (named.length === 1) return named[0]!.region;
      if (named.length > 1) {
        throw new RdsApiError(
          'InvalidParameterValue',
          `TargetDbClusterIdentifier ${identifier} names ${named.length} secondary clusters: give its ARN`,
        );
      }
      if (state.primary.cluster === identifier.toLowerCase()) return state.primary.region;
    }
    throw new RdsApiError(
      'DBClusterNotFoundFault',
      `DBCluster ${identifier} is not a member of GlobalCluster ${globalName(state)}.`,
      404,
    );
  }

  #context(): RoleChangeContext {
    return {
      dir: this.options.stateDir!,
      s3For: this.options.s3For,
      warn: (message) => this.options.logger.warn({ message }, 'global role change'),
    };
  }

  async #switchover(params: QueryParams): Promise<XmlStruct> {
    const state = this.#require(params.required('GlobalClusterIdentifier'));
    const region = this.#targetRegion(state, params.required('TargetDbClusterIdentifier'));
    return this.#start(state, await rdsError(prepareSwitchover(this.#context(), region)));
  }

  async #failover(params: QueryParams): Promise<XmlStruct> {
    const state = this.#require(params.required('GlobalClusterIdentifier'));
    const allowDataLoss = params.boolean('AllowDataLoss');
    const switchover = params.boolean('Switchover');
    if (allowDataLoss !== undefined && switchover !== undefined) {
      throw new RdsApiError(
        'InvalidParameterCombination',
        'AllowDataLoss and Switchover cannot be specified together.',
      );
    }
    const region = this.#targetRegion(state, params.required('TargetDbClusterIdentifier'));
    // Without AllowDataLoss the operation is a switchover (RDS's default).
    const prepared =
      allowDataLoss === true
        ? await rdsError(prepareFailover(this.#context(), region))
        : await rdsError(prepareSwitchover(this.#context(), region));
    return this.#start(state, prepared);
  }

  /** Runs a prepared change on after the answer; the answer shows it under way. */
  async #start(state: GlobalState, prepared: PreparedRoleChange): Promise<XmlStruct> {
    const started = Date.now();
    const run =
      prepared.kind === 'switchover'
        ? runSwitchover(this.#context(), prepared)
        : runFailover(this.#context(), prepared);
    void run.then(
      (report) =>
        this.options.logger.info(
          { kind: prepared.kind, ...report, ms: Date.now() - started },
          `${prepared.kind === 'switchover' ? 'SwitchoverGlobalCluster' : 'FailoverGlobalCluster'}: done`,
        ),
      (error: Error) =>
        this.options.logger.error(
          { kind: prepared.kind, to: prepared.target.region, err: error.message },
          `${prepared.kind === 'switchover' ? 'SwitchoverGlobalCluster' : 'FailoverGlobalCluster'} failed`,
        ),
    );
    return { GlobalCluster: await this.#shape(state) };
  }
}

/** A role change's refusal as the RDS error it is. */
async function rdsError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof GlobalRoleChangeError)) throw error;
    const status =
      error.code === 'GlobalClusterNotFoundFault' || error.code === 'DBClusterNotFoundFault' ? 404 : 400;
    throw new RdsApiError(error.code, error.message, error.code === 'InternalFailure' ? 500 : status);
  }
}

/** The global cluster's identifier: the cluster name it was started with (the global endpoint's). */
function globalName(state: GlobalState): string {
  const arn = state.globalWriter?.globalClusterArn;
  return arn?.split(':global-cluster:')[1] ?? state.primary.cluster;
}

function globalArn(state: GlobalState): string {
  return (
    state.globalWriter?.globalClusterArn ??
    `arn:aws:rds::${accountOf(state)}:global-cluster:${globalName(state)}`
  );
}

/** A stable resource id (RDS: `cluster-` and 26 characters), from the ARN. */
function globalResourceId(state: GlobalState): string {
  return `cluster-${createHash('sha256').update(globalArn(state)).digest('hex').slice(0, 26).toUpperCase()}`;
}
