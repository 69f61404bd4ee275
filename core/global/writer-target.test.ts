import { describe, expect, it } from 'vitest';
import {
  chooseWriterTarget,
  globalClusterArn,
  type MemberObservation,
  type MemberRole,
  sameTarget,
  translateCallerArns,
} from './writer-target.ts';

const stale = 2_000;
const now = 100_000;

function role(region: string, fields: Partial<MemberRole> = {}): MemberRole {
  return {
    region,
    cluster: 'borealis',
    role: 'primary',
    promotedAtMs: null,
    writerEndpoint: `http://127.0.0.1:${region === 'us-east-1' ? 1000 : 2000}`,
    mysqlWriterEndpoint: `127.0.0.1:${region === 'us-east-1' ? 1001 : 2001}`,
    resourceArn: `arn:aws:rds:${region}:000000000000:cluster:borealis`,
    secretArn: `arn:aws:secretsmanager:${region}:000000000000:secret:borealis-admin`,
    ...fields,
  };
}

function seen(last: MemberRole, answeredAtMs = now): MemberObservation {
  return { region: last.region, last, answeredAtMs };
}

const secondary = (region: string) => seen(role(region, { role: 'secondary' }));
const silent = (region: string): MemberObservation => ({ region, last: undefined, answeredAtMs: undefined });

describe('chooseWriterTarget', () => {
  it('the one member that claims the writer is the target', () => {
    const choice = chooseWriterTarget([seen(role('us-east-1')), secondary('us-west-2')], now, stale);
    expect(choice).toEqual({ kind: 'primary', target: role('us-east-1'), overruled: [] });
  });

  it('the order of the members does not matter', () => {
    const choice = chooseWriterTarget([secondary('us-west-2'), seen(role('us-east-1'))], now, stale);
    expect(choice.kind === 'primary' && choice.target.region).toBe('us-east-1');
  });

  it('no target while every member is a secondary', () => {
    const choice = chooseWriterTarget([secondary('us-east-1'), secondary('us-west-2')], now, stale);
    expect(choice).toEqual({ kind: 'none', reason: 'no member claims the writer' });
  });

  it('no target before any member answered, naming the silent ones', () => {
    const choice = chooseWriterTarget([silent('us-east-1'), secondary('us-west-2')], now, stale);
    expect(choice).toEqual({
      kind: 'none',
      reason: 'no member claims the writer (never answered: us-east-1)',
    });
    expect(chooseWriterTarget([], now, stale).kind).toBe('none');
  });

  it('an answer exactly staleAfterMs old still counts; one millisecond older does not', () => {
    const fresh = chooseWriterTarget([seen(role('us-east-1'), now - stale)], now, stale);
    expect(fresh.kind).toBe('primary');
    const old = chooseWriterTarget([seen(role('us-east-1'), now - stale - 1)], now, stale);
    expect(old).toEqual({
      kind: 'none',
      reason: `the primary us-east-1 has not answered for ${stale + 1} ms`,
    });
  });

  it('the old primary gone silent and the secondary not yet promoted: no target (connections wait)', () => {
    const choice = chooseWriterTarget(
      [seen(role('us-east-1'), now - 10_000), secondary('us-west-2')],
      now,
      stale,
    );
    expect(choice.kind).toBe('none');
  });

  it('after a failover the promoted member is the target, the silent old primary is overruled', () => {
    const promoted = role('us-west-2', { promotedAtMs: 90_000 });
    const choice = chooseWriterTarget([seen(role('us-east-1'), now - 10_000), seen(promoted)], now, stale);
    expect(choice).toEqual({ kind: 'primary', target: promoted, overruled: ['us-east-1'] });
  });

  it('an old primary that came back unfenced and answers is overruled by the one promoted last', () => {
    const promoted = role('us-west-2', { promotedAtMs: 90_000 });
    const choice = chooseWriterTarget([seen(role('us-east-1')), seen(promoted)], now, stale);
    expect(choice).toEqual({ kind: 'primary', target: promoted, overruled: ['us-east-1'] });
  });

  it('between two promoted members the later promotion wins, whatever the order', () => {
    const a = role('us-east-1', { promotedAtMs: 95_000 });
    const b = role('us-west-2', { promotedAtMs: 90_000 });
    expect(chooseWriterTarget([seen(a), seen(b)], now, stale)).toEqual({
      kind: 'primary',
      target: a,
      overruled: ['us-west-2'],
    });
    expect(chooseWriterTarget([seen(b), seen(a)], now, stale)).toEqual({
      kind: 'primary',
      target: a,
      overruled: ['us-west-2'],
    });
  });

  it('the newest primary gone silent never hands the writer back to an older one that answers', () => {
    const promoted = role('us-west-2', { promotedAtMs: 90_000 });
    const choice = chooseWriterTarget([seen(role('us-east-1')), seen(promoted, now - 10_000)], now, stale);
    expect(choice).toEqual({ kind: 'none', reason: 'the primary us-west-2 has not answered for 10000 ms' });
  });

  it('a member that was primary and now says secondary no longer claims the writer', () => {
    const promoted = role('us-west-2', { promotedAtMs: 90_000 });
    const choice = chooseWriterTarget([secondary('us-east-1'), seen(promoted)], now, stale);
    expect(choice).toEqual({ kind: 'primary', target: promoted, overruled: [] });
  });

  it('two claims with the same promotion record: routes to neither', () => {
    const both = chooseWriterTarget([seen(role('us-east-1')), seen(role('us-west-2'))], now, stale);
    expect(both).toEqual({
      kind: 'none',
      reason: 'us-east-1 and us-west-2 all claim the writer with the same promotion record: routing to none',
    });
    const promotedTwice = chooseWriterTarget(
      [seen(role('us-east-1', { promotedAtMs: 5 })), seen(role('us-west-2', { promotedAtMs: 5 }))],
      now,
      stale,
    );
    expect(promotedTwice.kind).toBe('none');
  });

  it('the primary without a registered cluster endpoint is no target, and no older one replaces it', () => {
    const promoted = role('us-west-2', { promotedAtMs: 90_000, writerEndpoint: null });
    const choice = chooseWriterTarget([seen(role('us-east-1')), seen(promoted)], now, stale);
    expect(choice).toEqual({
      kind: 'none',
      reason: 'the primary us-west-2 has no cluster endpoint registered yet',
    });
  });

  it('refuses a non-positive staleness bound and a member listed twice', () => {
    expect(() => chooseWriterTarget([], now, 0)).toThrow(/staleAfterMs/);
    expect(() => chooseWriterTarget([secondary('us-east-1'), secondary('us-east-1')], now, stale)).toThrow(
      /one observation per member/,
    );
  });
});

describe('sameTarget', () => {
  const east = chooseWriterTarget([seen(role('us-east-1'))], now, stale);
  const west = chooseWriterTarget([seen(role('us-west-2', { promotedAtMs: 1 }))], now, stale);
  const none = chooseWriterTarget([], now, stale);

  it('the same member at the same endpoints is the same target', () => {
    expect(sameTarget(east, chooseWriterTarget([seen(role('us-east-1'))], now, stale))).toBe(true);
    expect(sameTarget(none, { kind: 'none', reason: 'another reason' })).toBe(true);
  });

  it('another member, another endpoint, or none is a change', () => {
    expect(sameTarget(east, west)).toBe(false);
    expect(sameTarget(east, none)).toBe(false);
    expect(sameTarget(none, east)).toBe(false);
    const moved = chooseWriterTarget(
      [seen(role('us-east-1', { writerEndpoint: 'http://127.0.0.1:3000' }))],
      now,
      stale,
    );
    expect(sameTarget(east, moved)).toBe(false);
    const mysqlMoved = chooseWriterTarget(
      [seen(role('us-east-1', { mysqlWriterEndpoint: '127.0.0.1:3001' }))],
      now,
      stale,
    );
    expect(sameTarget(east, mysqlMoved)).toBe(false);
  });
});

describe('translateCallerArns', () => {
  const east = role('us-east-1');
  const west = role('us-west-2');
  const globalArn = globalClusterArn('000000000000', 'borealis');

  it('the global cluster ARN is Aurora-shaped: no region', () => {
    expect(globalArn).toBe('arn:aws:rds::000000000000:global-cluster:borealis');
  });

  it('a member cluster and its secret become the current primary`s', () => {
    const out = translateCallerArns(
      { resourceArn: east.resourceArn, secretArn: east.secretArn, sql: 'select 1' } as Record<
        string,
        unknown
      >,
      [east, west],
      globalArn,
      west,
    );
    expect(out).toEqual({ resourceArn: west.resourceArn, secretArn: west.secretArn, sql: 'select 1' });
  });

  it('the global cluster ARN becomes the current primary`s cluster ARN', () => {
    const out = translateCallerArns(
      { resourceArn: globalArn, secretArn: west.secretArn },
      [east, west],
      globalArn,
      east,
    );
    expect(out).toEqual({ resourceArn: east.resourceArn, secretArn: east.secretArn });
  });

  it('unknown ARNs and missing fields pass unchanged, for the member to refuse', () => {
    const foreign = { resourceArn: 'arn:aws:rds:eu-west-1:1:cluster:other', secretArn: 'nope' };
    expect(translateCallerArns(foreign, [east, west], globalArn, west)).toEqual(foreign);
    expect(translateCallerArns({}, [east, west], globalArn, west)).toEqual({});
    expect(translateCallerArns({ resourceArn: 7 }, [east, west], globalArn, west)).toEqual({
      resourceArn: 7,
    });
  });

  it('a known cluster with an unknown secret: only the cluster is translated', () => {
    expect(
      translateCallerArns({ resourceArn: east.resourceArn, secretArn: 'x' }, [east, west], globalArn, west),
    ).toEqual({ resourceArn: west.resourceArn, secretArn: 'x' });
  });
});
