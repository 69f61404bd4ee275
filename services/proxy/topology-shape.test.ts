import { describe, expect, it } from 'vitest';
import { topologyFixture } from './testing.ts';
import { checkTopology } from './topology-shape.ts';

describe('topology shape', () => {
  it('accepts the contract, with or without a writer', () => {
    expect(checkTopology(topologyFixture())).toEqual(topologyFixture());
    expect(checkTopology(topologyFixture({ writer: null, readers: [] })).writer).toBeNull();
  });

  it('refuses what routing cannot use, naming the field', () => {
    const bad = (doc: unknown) => () => checkTopology(doc);
    expect(bad(null)).toThrow(/topology must be an object/);
    expect(bad({ ...topologyFixture(), version: -1 })).toThrow(/version/);
    expect(bad({ ...topologyFixture(), readers: {} })).toThrow(/readers must be a list/);
    expect(bad(topologyFixture({ writer: { ...topologyFixture().writer!, endpoint: 'tcp://x' } }))).toThrow(
      /writer.endpoint/,
    );
    expect(bad({ ...topologyFixture(), writer: { id: 'w', endpoint: 'http://127.0.0.1:1' } })).toThrow(
      /incarnation/,
    );
    const reader = topologyFixture().readers[0]!;
    expect(bad(topologyFixture({ readers: [{ ...reader, healthy: 'yes' as never }] }))).toThrow(/healthy/);
    expect(bad(topologyFixture({ readers: [{ ...reader, lagMs: 'x' as never }] }))).toThrow(/lagMs/);
    expect(bad(topologyFixture({ readers: [{ ...reader, id: 'instance-1' }] }))).toThrow(/appears twice/);
  });
});
