// Fixtures of the embedded state files for unit tests.
import type { GlobalMember } from './global.ts';

/** A Global Database member as global.json names it; nothing runs at its addresses. */
export function memberFixture(region: string, overrides: Partial<GlobalMember> = {}): GlobalMember {
  return {
    region,
    cluster: 'borealis',
    controlPlaneUrl: 'http://127.0.0.1:1',
    dir: '/nowhere',
    controlPlanePid: 1,
    proxyPid: 1,
    ...overrides,
  };
}
