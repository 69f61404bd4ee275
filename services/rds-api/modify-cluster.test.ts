// ModifyDBCluster: the pure checks (ranges, parameters refused by name, values a cluster already has),
// the control plane's answers to POST /backtrack/window mapped to RDS errors (a fake control plane
// over HTTP), then the action driven by @aws-sdk/client-rds through RdsApi — the SDK's own parameter
// names and typed exceptions, `modifying` while a window change runs, and every refusal changing
// nothing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DBClusterNotFoundFault,
  DescribeDBClustersCommand,
  InvalidDBClusterStateFault,
  ModifyDBClusterCommand,
  RDSClient,
} from '@aws-sdk/client-rds';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleStatus } from '../../cli/testing.ts';
import { backtrackWindowRoute } from '../../core/backtrack/request.ts';
import type { ClusterStatus, Topology } from '../../core/cluster/topology.ts';
import { QueryParams, RdsApiError } from '../../core/rds/query-protocol.ts';
import { auroraEngineVersion } from '../../core/rds/shapes.ts';
import { RdsApi } from './api.ts';
import type { ClusterDirectory } from './clusters.ts';
import { ClusterModifier, parseModifyClusterRequest, setBacktrackWindow } from './modify-cluster.ts';
import type { ClusterRestores } from './restores.ts';
import type { ClusterSnapshots } from './snapshots.ts';
import { serveRdsApi } from './testing.ts';

const params = (entries: Record<string, string>) => new QueryParams(new Map(Object.entries(entries)));
const refusal = (run: () => unknown): { code: string; message: string; status: number } => {
  try {
    run();
  } catch (error) {
    if (error instanceof RdsApiError)
      return { code: error.code, message: error.message, status: error.status };
    throw error;
  }
  throw new Error('not refused');
};

describe('parseModifyClusterRequest', () => {
  it('takes the cluster, BackupRetentionPeriod 1–35, BacktrackWindow 0–259200 and ApplyImmediately', () => {
    expect(
      parseModifyClusterRequest(
        params({
          DBClusterIdentifier: 'c',
          BackupRetentionPeriod: '35',
          BacktrackWindow: '259200',
          ApplyImmediately: 'false',
        }),
      ),
    ).toEqual({
      cluster: 'c',
      backupRetentionPeriod: 35,
      backtrackWindowSeconds: 259200,
      applyImmediately: false,
    });
    expect(
      parseModifyClusterRequest(params({ DBClusterIdentifier: 'c', BackupRetentionPeriod: '1' })),
    ).toEqual({
      cluster: 'c',
      backupRetentionPeriod: 1,
    });
    expect(parseModifyClusterRequest(params({ DBClusterIdentifier: 'c', BacktrackWindow: '0' }))).toEqual({
      cluster: 'c',
      backtrackWindowSeconds: 0,
    });
  });

  it.each([
    [{ BackupRetentionPeriod: '0' }, /BackupRetentionPeriod must be an integer from 1 to 35, got '0'/],
    [{ BackupRetentionPeriod: '36' }, /BackupRetentionPeriod must be an integer from 1 to 35, got '36'/],
    [{ BackupRetentionPeriod: '7.5' }, /BackupRetentionPeriod/],
    [{ BacktrackWindow: '-1' }, /BacktrackWindow must be an integer from 0 to 259200/],
    [{ BacktrackWindow: '259201' }, /BacktrackWindow must be an integer from 0 to 259200/],
    [{ ApplyImmediately: 'yes' }, /ApplyImmediately must be true or false/],
  ])('refuses %j as InvalidParameterValue', (bad, message) => {
    const r = refusal(() => parseModifyClusterRequest(params({ DBClusterIdentifier: 'c', ...bad })));
    expect(r.code).toBe('InvalidParameterValue');
    expect(r.message).toMatch(message);
  });

  it('needs DBClusterIdentifier', () => {
    expect(refusal(() => parseModifyClusterRequest(params({ BackupRetentionPeriod: '7' }))).code).toBe(
      'MissingParameter',
    );
  });

  it.each([
    [{ NewDBClusterIdentifier: 'd' }, 'NewDBClusterIdentifier is not supported here'],
    [{ Port: '3307' }, 'Port is not supported here'],
    [{ MasterUserPassword: 'secret123' }, 'MasterUserPassword is not supported here'],
    [{ EngineVersion: '8.0.mysql_aurora.3.09.0' }, 'EngineVersion is not supported here'],
    [{ DeletionProtection: 'true' }, 'DeletionProtection is not supported here'],
    [{ 'VpcSecurityGroupIds.VpcSecurityGroupId.1': 'sg-1' }, 'VpcSecurityGroupIds is not supported here'],
    [{ 'ScalingConfiguration.MinCapacity': '2' }, 'ScalingConfiguration is not supported here'],
    [
      { 'CloudwatchLogsExportConfiguration.EnableLogTypes.member.1': 'error' },
      'CloudwatchLogsExportConfiguration is not supported here',
    ],
    [{ Port: '1', NewDBClusterIdentifier: 'd' }, 'NewDBClusterIdentifier, Port are not supported here'],
  ])(
    'refuses %j by name as InvalidParameterCombination, with a supported one beside it too',
    (other, message) => {
      const r = refusal(() =>
        parseModifyClusterRequest(params({ DBClusterIdentifier: 'c', BackupRetentionPeriod: '7', ...other })),
      );
      expect(r.code).toBe('InvalidParameterCombination');
      expect(r.message).toContain(message);
      expect(r.message).toMatch(/BackupRetentionPeriod and BacktrackWindow.*Nothing was changed\.$/);
    },
  );

  it('accepts values every Borealis cluster already has (they change nothing)', () => {
    expect(
      parseModifyClusterRequest(
        params({
          DBClusterIdentifier: 'c',
          EngineVersion: auroraEngineVersion,
          DeletionProtection: 'false',
          EnableHttpEndpoint: 'true',
        }),
      ),
    ).toEqual({ cluster: 'c' });
  });
});

/** A fake control plane: GET /status, and POST /backtrack/window answered as scripted. */
class FakeControlPlane {
  server!: Server;
  url = '';
  status: ClusterStatus = sampleStatus();
  answer: { status: number; body: string; delayMs?: number; gate?: Promise<void> } = {
    status: 200,
    body: '',
  };
  windowBodies: unknown[] = [];

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.#serve(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString();
    if (req.method === 'GET' && req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.status));
      return;
    }
    if (req.method === 'POST' && req.url === backtrackWindowRoute) {
      this.windowBodies.push(JSON.parse(body));
      const { status, body: out, delayMs, gate } = this.answer;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      if (gate) await gate;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(out);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'NotFound', message: `no route ${req.method} ${req.url}` }));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('setBacktrackWindow: the control plane’s answers as RDS errors', () => {
  const cp = new FakeControlPlane();
  beforeAll(() => cp.start());
  afterAll(() => cp.stop());

  const refusedWith = async (answer: FakeControlPlane['answer']) => {
    cp.answer = answer;
    try {
      await setBacktrackWindow(cp.url, 7200);
    } catch (error) {
      return error as RdsApiError;
    }
    throw new Error('not refused');
  };

  it('POSTs the window and resolves with the one the cluster has now', async () => {
    cp.windowBodies = [];
    cp.answer = { status: 200, body: JSON.stringify({ backtrackWindowSeconds: 7200 }) };
    expect(await setBacktrackWindow(cp.url, 7200)).toBe(7200);
    expect(cp.windowBodies).toEqual([{ backtrackWindowSeconds: 7200 }]);
  });

  it('409 is InvalidDBClusterStateFault, 400 InvalidParameterValue — with the control plane’s message', async () => {
    const conflict = await refusedWith({
      status: 409,
      body: JSON.stringify({ error: 'Conflict', message: 'a backtrack is running' }),
    });
    expect(conflict).toMatchObject({
      code: 'InvalidDBClusterStateFault',
      message: 'a backtrack is running',
      status: 400,
    });
    const bad = await refusedWith({
      status: 400,
      body: JSON.stringify({
        error: 'BadRequest',
        message: 'backtracking was not enabled when the cluster was created',
      }),
    });
    expect(bad).toMatchObject({
      code: 'InvalidParameterValue',
      message: 'backtracking was not enabled when the cluster was created',
      status: 400,
    });
  });

  it('a code the control plane names itself wins, its message without it', async () => {
    expect(
      await refusedWith({
        status: 400,
        body: JSON.stringify({
          error: 'BadRequest',
          message: 'InvalidParameterCombination: backtracking was not enabled when this cluster was created',
        }),
      }),
    ).toMatchObject({
      code: 'InvalidParameterCombination',
      message: 'backtracking was not enabled when this cluster was created',
    });
    expect(
      await refusedWith({
        status: 409,
        body: JSON.stringify({
          error: 'Conflict',
          message: 'InvalidDBClusterStateFault: the cluster is backtracking',
        }),
      }),
    ).toMatchObject({ code: 'InvalidDBClusterStateFault', message: 'the cluster is backtracking' });
  });

  it('a control plane without the route, one that fails, or an answer without a window', async () => {
    expect(
      await refusedWith({ status: 404, body: JSON.stringify({ error: 'NotFound', message: 'no route' }) }),
    ).toMatchObject({
      code: 'InvalidParameterCombination',
      message: expect.stringMatching(/has no \/backtrack\/window: no route/),
    });
    expect(await refusedWith({ status: 500, body: 'boom' })).toMatchObject({
      code: 'InternalFailure',
      status: 500,
      message: expect.stringMatching(/HTTP 500\): boom/),
    });
    expect(
      await refusedWith({
        status: 503,
        body: JSON.stringify({ error: 'Unavailable', message: 'no writer' }),
      }),
    ).toMatchObject({ code: 'InvalidDBClusterStateFault', message: 'no writer' });
    expect(await refusedWith({ status: 200, body: '{}' })).toMatchObject({
      code: 'InternalFailure',
      status: 500,
    });
    await expect(setBacktrackWindow('http://127.0.0.1:1', 7200, 2_000)).rejects.toMatchObject({
      code: 'InternalFailure',
      message: expect.stringMatching(/did not answer/),
    });
  });
});

describe('ModifyDBCluster through RdsApi and @aws-sdk/client-rds', () => {
  const cp = new FakeControlPlane();
  let server: Server;
  let rds: RDSClient;
  let retention: Map<string, number>;

  const directory: ClusterDirectory = {
    names: async () => ['borealis'],
    read: async (cluster) => {
      if (cluster !== 'borealis')
        throw Object.assign(new Error(`no cluster '${cluster}'`), { notFound: true });
      return { cluster, controlPlaneUrl: cp.url } as Topology;
    },
  };

  beforeAll(async () => {
    await cp.start();
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    rds = new RDSClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    rds?.destroy();
    await new Promise((resolve) => server.close(resolve));
    await cp.stop();
  });

  beforeEach(() => {
    retention = new Map();
    cp.status = sampleStatus({ endpoints: { writer: 'http://w', reader: 'http://r' } });
    cp.answer = { status: 200, body: JSON.stringify({ backtrackWindowSeconds: 0 }) };
    cp.windowBodies = [];
    const modifier = new ClusterModifier({
      directory,
      logger: pino({ level: 'silent' }),
      backup: {
        setRetentionDays: async (cluster, days) => {
          retention.set(cluster, days);
          return days;
        },
        extras: async (status) => ({ backupRetentionPeriod: retention.get(status.cluster) ?? 1 }),
      },
    });
    const api = new RdsApi({
      region: 'us-east-1',
      directory,
      logger: pino({ level: 'silent' }),
      snapshots: {} as ClusterSnapshots,
      restores: { sweep: () => undefined, creating: () => [] } as unknown as ClusterRestores,
      actions: modifier.actions(),
      clusterExtras: (status) => modifier.clusterExtras(status),
    });
    serveRdsApi(server, api);
  });

  const describeCluster = async () =>
    (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' }))).DBClusters![0]!;

  it('BackupRetentionPeriod: stored, returned in the DBCluster, shown by DescribeDBClusters', async () => {
    const out = await rds.send(
      new ModifyDBClusterCommand({
        DBClusterIdentifier: 'borealis',
        BackupRetentionPeriod: 7,
        ApplyImmediately: true,
      }),
    );
    expect(out.DBCluster).toMatchObject({
      DBClusterIdentifier: 'borealis',
      BackupRetentionPeriod: 7,
      Status: 'available',
    });
    expect(retention.get('borealis')).toBe(7);
    expect((await describeCluster()).BackupRetentionPeriod).toBe(7);
    expect(cp.windowBodies).toEqual([]);
  });

  it('BacktrackWindow: the control plane sets it; `modifying` while it does; the new window in the answer', async () => {
    // The control plane holds its answer until the test has looked: no timing to race on a busy machine.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    cp.answer = { status: 200, body: JSON.stringify({ backtrackWindowSeconds: 7200 }), gate };
    const modifying = rds.send(
      new ModifyDBClusterCommand({ DBClusterIdentifier: 'borealis', BacktrackWindow: 7200 }),
    );
    const deadline = Date.now() + 10_000;
    while (cp.windowBodies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect((await describeCluster()).Status).toBe('modifying');
    // A second change meanwhile is refused.
    await expect(
      rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 3 })),
    ).rejects.toBeInstanceOf(InvalidDBClusterStateFault);
    release();
    const out = await modifying;
    expect(out.DBCluster).toMatchObject({ BacktrackWindow: 7200, Status: 'available' });
    expect(cp.windowBodies).toEqual([{ backtrackWindowSeconds: 7200 }]);
    expect((await describeCluster()).Status).toBe('available');
    expect(retention.size).toBe(0);
  });

  it('refusals change nothing: bad values, unsupported parameters, an unknown cluster, a busy one', async () => {
    const attempts: [ConstructorParameters<typeof ModifyDBClusterCommand>[0], string][] = [
      [{ DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 0 }, 'InvalidParameterValue'],
      [{ DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 36 }, 'InvalidParameterValue'],
      [
        { DBClusterIdentifier: 'borealis', BacktrackWindow: 259_201, BackupRetentionPeriod: 7 },
        'InvalidParameterValue',
      ],
      [
        { DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 7, NewDBClusterIdentifier: 'x' },
        'InvalidParameterCombination',
      ],
      [
        { DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 7, VpcSecurityGroupIds: ['sg-1'] },
        'InvalidParameterCombination',
      ],
      [
        {
          DBClusterIdentifier: 'borealis',
          BackupRetentionPeriod: 7,
          CloudwatchLogsExportConfiguration: { EnableLogTypes: ['error'] },
        },
        'InvalidParameterCombination',
      ],
      [
        { DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 7, MasterUserPassword: 'secret123' },
        'InvalidParameterCombination',
      ],
    ];
    for (const [input, code] of attempts) {
      await expect(rds.send(new ModifyDBClusterCommand(input)), JSON.stringify(input)).rejects.toMatchObject({
        name: code,
        $metadata: { httpStatusCode: 400 },
      });
    }
    await expect(
      rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'nope', BackupRetentionPeriod: 7 })),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    // The control plane refuses the window (a backtrack under way): the retention is not stored either.
    cp.answer = {
      status: 409,
      body: JSON.stringify({ error: 'Conflict', message: 'a backtrack is running' }),
    };
    await expect(
      rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: 'borealis',
          BacktrackWindow: 600,
          BackupRetentionPeriod: 7,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidDBClusterStateFault', message: 'a backtrack is running' });
    // A cluster failing over is not available.
    cp.status = { ...cp.status, failoverInProgress: true };
    await expect(
      rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'borealis', BackupRetentionPeriod: 7 })),
    ).rejects.toMatchObject({
      name: 'InvalidDBClusterStateFault',
      message: expect.stringMatching(/failing-over/),
    });
    expect(retention.size).toBe(0);
    expect(cp.windowBodies).toEqual([{ backtrackWindowSeconds: 600 }]);
  });
});
