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

  it('ignores a missing or corrupt persisted file', () => {
    const dir = makeTempDir('topology-bad');
    try {
      expect(readPersistedTopology(join(dir.path, 'none.json'))).toBeUndefined();
    } finally {
      dir.remove();
    }
  });
});
