// The RDS API tests' fixture: a system started as `npm start` starts it (small: the RDS API tests run
// beside others on two cores) and an RDS client at the endpoint it prints (`endpoints.rds` of
// `borealis status --json`), as a user points @aws-sdk/client-rds at it.
import { RDSClient } from '@aws-sdk/client-rds';
import { afterAll, beforeAll, expect } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { endpointClients } from './cluster.ts';
import type { Sql } from './sql.ts';
import { TestSystem } from './system.ts';
import { makeTempDir } from './temp.ts';

export interface RdsSystem {
  system: TestSystem;
  rds: RDSClient;
  rdsUrl: string;
  /** The Data API client at the cluster (writer) endpoint. */
  writer: Sql;
}

/** @aws-sdk/client-rds at a region's RDS API, as a user points it there (any credentials). */
export function rdsClient(endpoint: string, region = 'us-east-1'): RDSClient {
  return new RDSClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
  });
}

export async function startRdsSystem(dir: string, readers: number): Promise<RdsSystem> {
  const system = await TestSystem.start(dir, [
    '--readers',
    String(readers),
    '--pg-count',
    '2',
    '--pages-per-pg',
    '4096',
  ]);
  const status = JSON.parse((await system.cli('status', '--json')).stdout) as ClusterStatus;
  const rdsUrl = status.endpoints.rds;
  if (rdsUrl === undefined) throw new Error('status --json has no endpoints.rds');
  const rds = rdsClient(rdsUrl);
  return { system, rds, rdsUrl, writer: endpointClients(status).writer };
}

/**
 * A test file's system, started before its tests (`startRdsSystem`) and stopped after them (exit 0
 * checked, clients closed, the dir removed). Read `fixture.system`, `.rds`, `.writer` in the tests.
 */
export function useRdsSystem(name: string, readers: number): RdsSystem {
  const dir = makeTempDir(name);
  const fixture = {} as RdsSystem;
  beforeAll(async () => {
    Object.assign(fixture, await startRdsSystem(dir.path, readers));
  }, 240_000);
  afterAll(async () => {
    fixture.rds?.destroy();
    fixture.writer?.close();
    if (fixture.system) expect(await fixture.system.stop()).toBe(0);
    dir.remove();
  }, 120_000);
  return fixture;
}
