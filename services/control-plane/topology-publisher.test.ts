import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { readPersistedTopology, type TopologyContent, TopologyPublisher } from './topology-publisher.ts';

const base: TopologyContent = {
  cluster: 'borealis',
  region: 'us-east-1',
  epoch: '1',
  writer: null,
  readers: [],
  failoverInProgress: false,
  resourceArn: 'arn',
  secretArn: 'secret',
};
const writer = { id: 'instance-1', endpoint: 'http://127.0.0.1:1', redo: '127.0.0.1:2', incarnation: 1 };

describe('TopologyPublisher', () => {
  it('bumps the version only on a change, persists it, and wakes long-polls', async () => {
    const dir = makeTempDir('topology');
    try {
      const file = join(dir.path, 'topology.json');
      const publisher = new TopologyPublisher({ file, logger: createLogger('test') }, base, 4);
      expect(publisher.current.version).toBe(5);
      expect(publisher.update(base)).toBe(false);
      const waiting = publisher.next(5, 5_000);
      expect(publisher.update({ ...base, writer, epoch: '2' })).toBe(true);
      const woken = await waiting;
      expect(woken.version).toBe(6);
      expect(woken.writer?.id).toBe('instance-1');
      expect(readPersistedTopology(file)).toEqual(publisher.current);
      expect(JSON.parse(readFileSync(file, 'utf8')).epoch).toBe('2');
      // Nothing newer: the long-poll answers the current topology after its timeout.
      expect((await publisher.next(6, 20)).version).toBe(6);
      // An older version is answered at once.
      expect((await publisher.next(0, 5_000)).version).toBe(6);
      publisher.close();
    } finally {
      dir.remove();
    }
  });

  it('says a version was taken once every long-poll it woke asks for a later one, not before', async () => {
    const dir = makeTempDir('topology-taken');
    try {
      const publisher = new TopologyPublisher(
        { file: join(dir.path, 'topology.json'), logger: createLogger('test') },
        base,
      );
      // Nobody long-polling: nobody can confirm, so false at once (the caller waits its own bound).
      expect(publisher.update({ ...base, epoch: '2' })).toBe(true);
      expect(await publisher.taken(publisher.current.version, 5_000)).toBe(false);
      // Two followers polling: true only after both came back with the new version.
      const [a, b] = [publisher.next(2, 5_000), publisher.next(2, 5_000)];
      publisher.update({ ...base, epoch: '3' });
      const version = publisher.current.version;
      let taken: boolean | undefined;
      const confirming = publisher.taken(version, 5_000).then((t) => {
        taken = t;
      });
      await Promise.all([a, b]);
      void publisher.next(version - 1, 10); // a stale poll (before it had the version) does not count
      void publisher.next(version, 5_000);
      await new Promise((r) => setTimeout(r, 20));
      expect(taken).toBeUndefined();
      void publisher.next(version, 5_000);
      await confirming;
      expect(taken).toBe(true);
      // A follower that never comes back: false after the bound.
      const c = publisher.next(version, 5_000);
      publisher.update({ ...base, epoch: '4' });
      await c;
      expect(await publisher.taken(publisher.current.version, 50)).toBe(false);
      publisher.close();
    } finally {
      dir.remove();
    }
  });

  it('ignores a missing or corrupt persisted file', () => {
    const dir = makeTempDir('topology-bad');
    try {
      expect(readPersistedTopology(join(dir.path, 'none.json'))).toBeUndefined();
    } finally {
      dir.remove();
    }
  });
});
