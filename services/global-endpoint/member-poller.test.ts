// The member poller against two real HTTP servers standing in for two regions' control planes
// (GET /global/role): it follows a promotion, overrules an old primary that still claims the writer,
// and keeps no target while the newest primary is silent. Rounds are driven one at a time (pollOnce).
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberRole, WriterTargetChoice } from '../../core/global/writer-target.ts';
import { MemberPoller } from './member-poller.ts';

const logger = pino({ level: 'silent' });

interface FakeControlPlane {
  server: Server;
  url: string;
  /** What GET /global/role answers; undefined: 503 (a control plane that does not answer). */
  role: MemberRole | undefined;
}

async function controlPlane(): Promise<FakeControlPlane> {
  const cp: FakeControlPlane = { server: createServer(), url: '', role: undefined };
  cp.server.on('request', (req, res) => {
    if (req.url !== '/global/role' || cp.role === undefined) {
      res.writeHead(503).end('{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(cp.role));
  });
  cp.server.listen(0, '127.0.0.1');
  await once(cp.server, 'listening');
  cp.url = `http://127.0.0.1:${(cp.server.address() as AddressInfo).port}`;
  return cp;
}

function role(region: string, fields: Partial<MemberRole>): MemberRole {
  return {
    region,
    cluster: 'borealis',
    role: 'primary',
    promotedAtMs: null,
    writerEndpoint: `http://${region}.example:1`,
    mysqlWriterEndpoint: `${region}.example:2`,
    resourceArn: `arn:aws:rds:${region}:0:cluster:borealis`,
    secretArn: `arn:${region}:secret`,
    ...fields,
  };
}

describe('MemberPoller', () => {
  let east: FakeControlPlane;
  let west: FakeControlPlane;
  const changes: Array<string | null> = [];
  const overruled: string[] = [];
  let poller: MemberPoller;

  beforeAll(async () => {
    east = await controlPlane();
    west = await controlPlane();
    poller = new MemberPoller({
      members: [
        { region: 'us-east-1', controlPlaneUrl: east.url },
        { region: 'us-west-2', controlPlaneUrl: west.url },
      ],
      pollMs: 1_000,
      requestTimeoutMs: 1_000,
      // Long enough that a silent member's last answer still counts within one test step.
      staleAfterMs: 60_000,
      logger,
      onChange: (choice: WriterTargetChoice) =>
        changes.push(choice.kind === 'primary' ? choice.target.region : null),
      onOverruled: (region) => overruled.push(region),
    });
  });
  afterAll(() => {
    poller.stop();
    east.server.close();
    west.server.close();
  });

  it('routes to the primary, follows a promotion, and overrules the old primary that still claims the writer', async () => {
    east.role = role('us-east-1', {});
    west.role = role('us-west-2', { role: 'secondary' });
    await poller.pollOnce();
    expect(changes).toEqual(['us-east-1']);
    // The same answers again: no change.
    await poller.pollOnce();
    expect(changes).toEqual(['us-east-1']);

    // us-west-2 is promoted while us-east-1 (unfenced) still says primary.
    west.role = role('us-west-2', { promotedAtMs: Date.now() });
    await poller.pollOnce();
    expect(changes).toEqual(['us-east-1', 'us-west-2']);
    expect(overruled).toEqual(['us-east-1']);
    // Overruled is reported once per episode, not every round.
    await poller.pollOnce();
    expect(overruled).toEqual(['us-east-1']);
    const choice = poller.choice;
    expect(choice.kind === 'primary' && choice.overruled).toEqual(['us-east-1']);
  });

  it('a member that answers with another region is not believed', async () => {
    east.role = role('us-west-2', { promotedAtMs: Date.now() + 1_000 });
    await poller.pollOnce();
    // us-east-1 keeps its previous answer (a primary since creation): us-west-2 still routes.
    expect(poller.choice.kind === 'primary' && poller.choice.target.region).toBe('us-west-2');
    expect(poller.observations[0]!.last!.region).toBe('us-east-1');
  });
});
