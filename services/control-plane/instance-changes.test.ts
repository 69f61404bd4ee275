import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leastUsedAz } from './controller.ts';
import {
  applyInstanceChanges,
  instanceChangesOf,
  readInstanceChanges,
  writeInstanceChanges,
} from './instance-changes.ts';

const flags = [
  { id: 'instance-1', az: 'a', tier: 1 },
  { id: 'instance-2', az: 'b', tier: 0 },
];

describe('instances created and deleted through the RDS API', () => {
  it('keeps the difference from the flags, so both hold after a restart', () => {
    const now = [flags[1]!, { id: 'reader-x', az: 'c', tier: 0 }];
    const changes = instanceChangesOf(flags, now);
    expect(changes).toEqual({
      version: 1,
      added: [{ id: 'reader-x', az: 'c', tier: 0 }],
      removed: ['instance-1'],
    });
    expect(applyInstanceChanges(flags, changes)).toEqual(now);
    // A later --readers 2 still adds its instance-3; the API's changes stay.
    const more = [...flags, { id: 'instance-3', az: 'c', tier: 1 }];
    expect(applyInstanceChanges(more, changes).map((i) => i.id)).toEqual([
      'instance-2',
      'instance-3',
      'reader-x',
    ]);
  });

  it('reads back what it wrote; refuses a file that is not a change list', () => {
    const dir = mkdtempSync(join(tmpdir(), 'instance-changes-'));
    try {
      const path = join(dir, 'instances.json');
      expect(readInstanceChanges(path)).toEqual({ version: 1, added: [], removed: [] });
      const changes = instanceChangesOf(flags, [flags[0]!]);
      writeInstanceChanges(path, changes);
      expect(readInstanceChanges(path)).toEqual(changes);
      writeFileSync(path, '{"added": 1}');
      expect(() => readInstanceChanges(path)).toThrow(/not an instance change list/);
      writeFileSync(path, '{');
      expect(() => readInstanceChanges(path)).toThrow(/is not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('places a new instance in the AZ with the fewest', () => {
    expect(leastUsedAz(['a', 'b', 'c'], ['a', 'b'])).toBe('c');
    expect(leastUsedAz(['a', 'b', 'c'], ['a', 'b', 'c', 'a'])).toBe('b');
    expect(leastUsedAz(['a', 'b'], [])).toBe('a');
  });
});
