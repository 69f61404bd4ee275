// For the control plane's unit tests: a controller over a local fleet that runs no process (six
// storage nodes in three AZs at unreachable ports), so its decisions can be tested without a cluster.
import { join } from 'node:path';
import { pino } from 'pino';
import type { StorageNodeAddress } from '../../core/volume.ts';
import { Controller, type ControllerOptions, ControlPlaneError } from './controller.ts';
import { LocalProcessFleet } from './local-fleet.ts';

export const unitNodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
  id: `n${i + 1}`,
  az: `az-${'abc'[Math.floor(i / 2)]}`,
  host: '127.0.0.1',
  port: 1,
  httpPort: 1,
}));

export function unitController(
  dir: string,
  instances: readonly { id: string; az: string; tier: number }[],
  options: Partial<ControllerOptions> = {},
): Controller {
  const fleet = new LocalProcessFleet(
    {
      dir,
      volumePath: join(dir, 'volume.json'),
      region: 'us-east-1',
      cluster: 'unit',
      storageArgs: [],
      instanceArgs: [],
      onExit: () => undefined,
    },
    unitNodes,
    instances,
  );
  return new Controller({
    fleet,
    logger: pino({ level: 'silent' }),
    cluster: 'unit',
    region: 'us-east-1',
    resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:unit',
    secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:unit',
    healthIntervalMs: 1_000,
    healthTimeoutMs: 500,
    failureThresholdMs: 5_000,
    restartDelayMs: 1_000,
    drainMs: 100,
    ...options,
  });
}

/** The ControlPlaneError `work` is refused with (anything else, or no refusal, fails the test). */
export async function refusal(work: Promise<unknown>): Promise<ControlPlaneError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ControlPlaneError))
    throw new Error(
      `expected a refusal (ControlPlaneError), got ${error === undefined ? 'success' : String(error)}`,
    );
  return error;
}
