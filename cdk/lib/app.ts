// Wires the stacks from validated options; shared by cdk/bin/app.ts and the assertion tests.
import type { App } from 'aws-cdk-lib';
import { RegionStack } from './stacks/region-stack.ts';

export interface BorealisAppOptions {
  clusterName: string;
  primaryRegion: string;
  secondaryRegion: string;
}

export function buildApp(
  app: App,
  options: BorealisAppOptions,
): { primary: RegionStack; secondary: RegionStack } {
  if (options.primaryRegion === options.secondaryRegion) {
    throw new Error(`primary and secondary region must differ (both are ${options.primaryRegion})`);
  }
  const stackName = (role: string) => `${options.clusterName}-${role}`;
  return {
    primary: new RegionStack(app, 'Primary', {
      stackName: stackName('primary'),
      clusterName: options.clusterName,
      region: options.primaryRegion,
    }),
    secondary: new RegionStack(app, 'Secondary', {
      stackName: stackName('secondary'),
      clusterName: options.clusterName,
      region: options.secondaryRegion,
    }),
  };
}
