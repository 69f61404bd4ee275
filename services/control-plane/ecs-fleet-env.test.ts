// `--fleet ecs` configuration from the environment CDK sets: complete settings parse, and a missing
// or malformed variable is one clear error naming it (before anything starts).
import { describe, expect, it } from 'vitest';
import { ecsFleetVariables as v } from '../../core/cluster/ecs-layout.ts';
import { ecsFleetSettings } from './ecs-fleet-env.ts';

const complete = {
  [v.cluster]: 'borealis',
  [v.writerTaskDefinition]: 'arn:aws:ecs:us-east-1:0:task-definition/writer:3',
  [v.readerTaskDefinition]: 'arn:aws:ecs:us-east-1:0:task-definition/reader:3',
  [v.subnets]: '{"us-east-1a":["subnet-a"],"us-east-1b":["subnet-b"],"us-east-1c":["subnet-c"]}',
  [v.securityGroups]: 'sg-1, sg-2',
  [v.storageServices]: '{"n1":"svc-n1","n2":"svc-n2"}',
};

describe('ecsFleetSettings', () => {
  it('reads the cluster, task definitions, subnets per AZ, security groups and node services', () => {
    expect(ecsFleetSettings(complete)).toEqual({
      ecsCluster: 'borealis',
      taskDefinitions: {
        writer: 'arn:aws:ecs:us-east-1:0:task-definition/writer:3',
        reader: 'arn:aws:ecs:us-east-1:0:task-definition/reader:3',
      },
      subnets: { 'us-east-1a': ['subnet-a'], 'us-east-1b': ['subnet-b'], 'us-east-1c': ['subnet-c'] },
      securityGroups: ['sg-1', 'sg-2'],
      storageServices: { n1: 'svc-n1', n2: 'svc-n2' },
    });
  });

  it('names a missing variable', () => {
    const { [v.readerTaskDefinition]: _, ...rest } = complete;
    expect(() => ecsFleetSettings(rest)).toThrow(
      `--fleet ecs needs the environment variable ${v.readerTaskDefinition}`,
    );
  });

  it('names a variable that is not JSON, or not the expected shape', () => {
    expect(() => ecsFleetSettings({ ...complete, [v.subnets]: 'subnet-a' })).toThrow(
      `${v.subnets} is not JSON`,
    );
    expect(() => ecsFleetSettings({ ...complete, [v.subnets]: '{"us-east-1a":"subnet-a"}' })).toThrow(
      `${v.subnets} must be {"<az>": ["subnet-…"], …}`,
    );
  });
});
