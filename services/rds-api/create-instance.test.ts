// CreateDBInstance through @aws-sdk/client-rds against RdsApi, over two fake control planes (one per
// cluster): a DBInstanceIdentifier is unique in the region even while the call that takes it is still
// under way on another cluster, and a control plane failing without an AWS code is InternalFailure
// (500), not a cluster state. Each refusal reaches no control plane.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateDBInstanceCommand, type CreateDBInstanceCommandInput, RDSClient } from '@aws-sdk/client-rds';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleStatus } from '../../cli/testing.ts';
import type { InstanceStatus, Topology } from '../../core/cluster/topology.ts';
import { controlPlaneRoutes } from '../../core/cluster/topology.ts';
import { RdsApi } from './api.ts';
import type { ClusterDirectory } from './clusters.ts';
import type { ClusterRestores } from './restores.ts';
import type { ClusterSnapshots } from './snapshots.ts';
import { serveRdsApi } from './testing.ts';

/** A control plane of one cluster: /status, and POST /instances answered when `gate` resolves. */
class FakeControlPlane {
  readonly server: Server;
  url = '';
  added: unknown[] = [];
  gate: Promise<void> = Promise.resolve();
  answer: { status: number; body: string } | undefined;

  constructor(readonly cluster: string) {
    this.server = createServer((req, res) => void this.#handle(req, res));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    if (req.url === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(sampleStatus({ cluster: this.cluster, endpoints: { writer: 'w', reader: 'r' } })),
      );
      return;
    }
    if (req.url === controlPlaneRoutes.addInstance) {
      this.added.push(JSON.parse(body));
      await this.gate;
      const request = JSON.parse(body) as { id: string; tier: number };
      const instance: Partial<InstanceStatus> = {
        id: request.id,
        role: 'reader',
        state: 'starting',
        healthy: false,
        tier: request.tier,
        rdsIdentifier: request.id,
        az: 'us-east-1a',
      };
      const answer = this.answer ?? { status: 200, body: JSON.stringify(instance) };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
      return;
    }
    res.writeHead(404);
    res.end('{}');
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

describe('CreateDBInstance', () => {
  const planes = new Map([
    ['a', new FakeControlPlane('a')],
    ['b', new FakeControlPlane('b')],
  ]);
  const directory: ClusterDirectory = {
    names: async () => [...planes.keys()],
    read: async (cluster) => {
      const cp = planes.get(cluster);
      if (!cp) throw Object.assign(new Error(`no cluster '${cluster}'`), { notFound: true });
      return { cluster, controlPlaneUrl: cp.url } as Topology;
    },
  };
  let server: Server;
  let rds: RDSClient;

  beforeAll(async () => {
    for (const cp of planes.values()) await cp.start();
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serveRdsApi(
      server,
      new RdsApi({
        region: 'us-east-1',
        directory,
        logger: pino({ level: 'silent' }),
        snapshots: {} as ClusterSnapshots,
        restores: { sweep: () => undefined, creating: () => [] } as unknown as ClusterRestores,
      }),
    );
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
    for (const cp of planes.values()) await new Promise((resolve) => cp.server.close(resolve));
  });

  const create = (cluster: string, id: string): CreateDBInstanceCommandInput => ({
    DBClusterIdentifier: cluster,
    DBInstanceIdentifier: id,
    DBInstanceClass: 'db.r6g.large',
    Engine: 'aurora-mysql',
    PromotionTier: 0,
  });

  it('an identifier taken by a call still under way on another cluster is DBInstanceAlreadyExists', async () => {
    const a = planes.get('a')!;
    const b = planes.get('b')!;
    let release = () => {};
    a.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = rds.send(new CreateDBInstanceCommand(create('a', 'shared-id')));
    const deadline = Date.now() + 10_000;
    while (a.added.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(a.added).toHaveLength(1);
    await expect(rds.send(new CreateDBInstanceCommand(create('b', 'Shared-ID')))).rejects.toMatchObject({
      name: 'DBInstanceAlreadyExistsFault',
      $metadata: { httpStatusCode: 400 },
    });
    expect(b.added).toEqual([]);
    release();
    expect((await first).DBInstance).toMatchObject({
      DBInstanceIdentifier: 'shared-id',
      DBClusterIdentifier: 'a',
      DBInstanceStatus: 'creating',
      PromotionTier: 0,
    });
    a.gate = Promise.resolve();
  });

  it('a control plane failing without an AWS code is InternalFailure (500); an unknown cluster is DBClusterNotFound', async () => {
    const a = planes.get('a')!;
    a.answer = { status: 500, body: JSON.stringify({ message: 'the reader did not start' }) };
    await expect(rds.send(new CreateDBInstanceCommand(create('a', 'r9')))).rejects.toMatchObject({
      name: 'InternalFailure',
      message: 'the reader did not start',
      $metadata: { httpStatusCode: 500 },
    });
    a.answer = { status: 409, body: JSON.stringify({ message: 'a failover is running' }) };
    await expect(rds.send(new CreateDBInstanceCommand(create('a', 'r9')))).rejects.toMatchObject({
      name: 'InvalidDBClusterStateFault',
      $metadata: { httpStatusCode: 400 },
    });
    a.answer = undefined;
    const before = planes.get('b')!.added.length;
    await expect(rds.send(new CreateDBInstanceCommand(create('nope', 'r9')))).rejects.toMatchObject({
      name: 'DBClusterNotFoundFault',
      $metadata: { httpStatusCode: 404 },
    });
    expect(planes.get('b')!.added.length).toBe(before);
  });
});
