// The global writer endpoint's one decision (services/global-endpoint/): which member of the Global
// Database is the primary now, from what each member's control plane last said (GET /global/role).
// Pure: the endpoint polls, this chooses. The rule that keeps it from routing to two primaries: the
// member promoted last wins, and an older claim never wins while a newer one is known, even when the
// newer member stops answering (then nobody is the target and connections wait).
import { assert } from '../assert.ts';

/** What a member's control plane answers on GET /global/role (services/control-plane/global.ts). */
export interface MemberRole {
  region: string;
  cluster: string;
  /** primary: its writer slot runs a writer; secondary: the replica applier. */
  role: 'primary' | 'secondary';
  /**
   * The promotion record: when this member was promoted by `global failover` (epoch ms), null for a
   * member that has been the primary since the global database was created.
   */
  promotedAtMs: number | null;
  /** Its cluster endpoint (the proxy's writer port), Data API URL `http://host:port`; null until registered. */
  writerEndpoint: string | null;
  /** Its cluster endpoint over MySQL, `host:port`; null when its proxy has none. */
  mysqlWriterEndpoint: string | null;
  resourceArn: string;
  secretArn: string;
}

/** The endpoint's memory of one member: its last answer and when it came. */
export interface MemberObservation {
  region: string;
  /** The last answer to GET /global/role; undefined: never answered. */
  last: MemberRole | undefined;
  /** When `last` came (epoch ms). */
  answeredAtMs: number | undefined;
}

export type WriterTargetChoice =
  | {
      kind: 'primary';
      target: MemberRole;
      /** Members that also claim to be the primary, promoted earlier: never routed to. */
      overruled: string[];
    }
  | { kind: 'none'; reason: string };

/** A promotion record's rank: a member primary since creation ranks below every promoted one. */
function rank(role: MemberRole): number {
  return role.promotedAtMs ?? Number.NEGATIVE_INFINITY;
}

/**
 * The member to route writes to now. `staleAfterMs`: an answer older than this no longer counts as
 * the member being reachable (its claim is still remembered, so an older primary cannot win).
 */
export function chooseWriterTarget(
  observations: readonly MemberObservation[],
  nowMs: number,
  staleAfterMs: number,
): WriterTargetChoice {
  assert(staleAfterMs > 0, 'staleAfterMs must be positive');
  assert(
    new Set(observations.map((o) => o.region)).size === observations.length,
    'one observation per member region',
  );
  const claims = observations.filter(
    (o): o is MemberObservation & { last: MemberRole; answeredAtMs: number } =>
      o.last?.role === 'primary' && o.answeredAtMs !== undefined,
  );
  if (claims.length === 0) {
    const silent = observations.filter((o) => o.last === undefined).map((o) => o.region);
    return {
      kind: 'none',
      reason:
        silent.length > 0
          ? `no member claims the writer (never answered: ${silent.join(', ')})`
          : 'no member claims the writer',
    };
  }
  const newestRank = Math.max(...claims.map((c) => rank(c.last)));
  const newest = claims.filter((c) => rank(c.last) === newestRank);
  const overruled = claims.filter((c) => rank(c.last) < newestRank).map((c) => c.region);
  if (newest.length > 1) {
    return {
      kind: 'none',
      reason: `${newest.map((c) => c.region).join(' and ')} all claim the writer with the same promotion record: routing to none`,
    };
  }
  const winner = newest[0]!;
  if (nowMs - winner.answeredAtMs > staleAfterMs) {
    return {
      kind: 'none',
      reason: `the primary ${winner.region} has not answered for ${nowMs - winner.answeredAtMs} ms`,
    };
  }
  if (winner.last.writerEndpoint === null) {
    return { kind: 'none', reason: `the primary ${winner.region} has no cluster endpoint registered yet` };
  }
  return { kind: 'primary', target: winner.last, overruled };
}

/** Whether two choices route to the same place (no connection needs to move). */
export function sameTarget(a: WriterTargetChoice, b: WriterTargetChoice): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'none' || b.kind === 'none') return true;
  return (
    a.target.region === b.target.region &&
    a.target.writerEndpoint === b.target.writerEndpoint &&
    a.target.mysqlWriterEndpoint === b.target.mysqlWriterEndpoint &&
    a.target.promotedAtMs === b.target.promotedAtMs
  );
}

/** The global cluster's ARN (Aurora: arn:aws:rds::ACCOUNT:global-cluster:NAME, no region). */
export function globalClusterArn(account: string, name: string): string {
  return `arn:aws:rds::${account}:global-cluster:${name}`;
}

/**
 * The ARNs a Data API request through the global writer endpoint names, made the current primary's:
 * a caller may name the global cluster or any member cluster (as configured before a failover), and
 * any member's secret (a secret replicated to every region of the global database). Anything else is
 * passed on unchanged, for the member to refuse as it would directly.
 */
export function translateCallerArns(
  input: { resourceArn?: unknown; secretArn?: unknown },
  members: ReadonlyArray<Pick<MemberRole, 'resourceArn' | 'secretArn'>>,
  globalArn: string,
  target: Pick<MemberRole, 'resourceArn' | 'secretArn'>,
): { resourceArn?: unknown; secretArn?: unknown } {
  const knownResource = (arn: unknown) => arn === globalArn || members.some((m) => m.resourceArn === arn);
  const knownSecret = (arn: unknown) => members.some((m) => m.secretArn === arn);
  return {
    ...input,
    ...(knownResource(input.resourceArn) && { resourceArn: target.resourceArn }),
    ...(knownSecret(input.secretArn) && { secretArn: target.secretArn }),
  };
}
