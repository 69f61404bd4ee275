// The ECS fleet against the real @aws-sdk/client-ecs client with its `send` stubbed: LocalStack's
// community edition has no ECS, so these tests script ECS's answers at the client's `send` and check
// the exact commands the fleet sends (RunTask, DescribeTasks, StopTask, UpdateService, ListTasks),
// how DescribeTasks becomes an instance's endpoints, how a STOPPED task becomes an exit, and that
// ECS failures (RunTask's failures array, throttling) become clear errors.
import type { ECSClient, Task } from '@aws-sdk/client-ecs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ecsClient } from '../../core/aws/clients.ts';
import { ecsContainerName, ecsPorts } from '../../core/cluster/ecs-layout.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { StorageNodeAddress } from '../../core/volume.ts';
import { EcsFleet, taskPrivateIp } from './ecs-fleet.ts';
import type { HealthDoc } from './fleet.ts';

type Sent = { command: string; input: Record<string, unknown> };
type Answer = (input: Record<string, unknown>) => unknown;

const writerArn = 'arn:aws:ecs:us-east-1:000000000000:task/borealis/writer1';
const nodeArn = 'arn:aws:ecs:us-east-1:000000000000:task/borealis/n1task';

function runningTask(arn: string, ip: string, lastStatus = 'RUNNING'): Task {
  return {
    taskArn: arn,
    lastStatus,
    attachments: [{ type: 'ElasticNetworkInterface', details: [{ name: 'privateIPv4Address', value: ip }] }],
  };
}

/** A real ECS client whose `send` records each command and answers from a script (one queue per command). */
function stubbedEcs(script: Record<string, Answer[]>) {
  // The project's client factory, as the control plane builds it; no request leaves the process.
  const client = ecsClient({
    region: 'us-east-1',
    env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
  });
  const sent: Sent[] = [];
  client.send = (async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
    const name = command.constructor.name;
    sent.push({ command: name, input: command.input });
    const queue = script[name];
    if (!queue || queue.length === 0) throw new Error(`unscripted ${name}`);
    const answer = queue.length > 1 ? queue.shift()! : queue[0]!;
    return answer(command.input);
  }) as unknown as ECSClient['send'];
  return { client, sent };
}

const nodes: StorageNodeAddress[] = [
  { id: 'n1', az: 'us-east-1a', host: 'n1.borealis.borealis.internal', port: 7100, httpPort: 7101 },
];
const instances = [
  { id: 'instance-1', az: 'us-east-1a', tier: 1 },
  { id: 'instance-2', az: 'us-east-1b', tier: 0 },
];

function fleetWith(script: Record<string, Answer[]>, health: HealthDoc = { healthy: true, epoch: '4' }) {
  // No task left by a previous control plane unless a test says otherwise.
  const { client, sent } = stubbedEcs({ ListTasksCommand: [() => ({ taskArns: [] })], ...script });
  const exits: Array<{ kind: string; id: string; code: number | null }> = [];
  const probes: string[] = [];
  const fleet = new EcsFleet(
    {
      ecs: client,
      ecsCluster: 'borealis-ecs',
      cluster: 'borealis',
      region: 'us-east-1',
      taskDefinitions: { writer: 'borealis-writer:3', reader: 'borealis-reader:3' },
      subnets: { 'us-east-1a': ['subnet-a1'], 'us-east-1b': ['subnet-b1', 'subnet-b2'] },
      securityGroups: ['sg-instances'],
      storageServices: { n1: 'borealis-n1' },
      instanceArgs: ['--cache-pages', '1024'],
      writerArgs: () => ['--redo-stream', 'redo'],
      logger: pino({ level: 'silent' }),
      onExit: (kind, id, info) => exits.push({ kind, id, code: info.code }),
      probe: async (host, port) => {
        probes.push(`${host}:${port}`);
        return health;
      },
      pollIntervalMs: 1,
      startTimeoutMs: 2_000,
      sleep: async () => undefined,
    },
    nodes,
    instances,
  );
  return { fleet, sent, exits, probes };
}

describe('EcsFleet (ECS client stubbed at send)', () => {
  it('starts a writer with RunTask: its task definition, its AZ subnets, and id/AZ/role in the overrides', async () => {
    const { fleet, sent } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }], failures: [] })],
      DescribeTasksCommand: [() => ({ tasks: [runningTask(writerArn, '10.0.1.23')] })],
    });
    await fleet.startInstance('instance-1', 'writer');
    const run = sent.find((s) => s.command === 'RunTaskCommand')!;
    const override = (run.input.overrides as { containerOverrides: Array<Record<string, unknown>> })
      .containerOverrides[0]!;
    expect({ ...run.input, overrides: undefined }).toEqual({
      cluster: 'borealis-ecs',
      taskDefinition: 'borealis-writer:3',
      launchType: 'FARGATE',
      count: 1,
      startedBy: 'borealis-borealis',
      group: 'borealis:borealis',
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-a1'],
          securityGroups: ['sg-instances'],
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: undefined,
      tags: [
        { key: 'borealis:cluster', value: 'borealis' },
        { key: 'borealis:instance', value: 'instance-1' },
        { key: 'borealis:role', value: 'writer' },
      ],
    });
    expect(override.name).toBe(ecsContainerName);
    expect(override.environment).toEqual([
      { name: 'BOREALIS_INSTANCE_ID', value: 'instance-1' },
      { name: 'BOREALIS_AZ', value: 'us-east-1a' },
      { name: 'BOREALIS_ROLE', value: 'writer' },
    ]);
    const command = (override.command as string[])[2]!;
    expect(command).toContain(
      'exec node --import tsx services/writer/main.ts --volume-config /tmp/volume.json',
    );
    expect(command).toContain(
      '--bind-address 0.0.0.0 --advertise-address "$(node -e \'fetch(process.env.ECS_CONTAINER_METADATA_URI_V4)',
    );
    expect(command).toContain(
      `'--id' 'instance-1' '--region' 'us-east-1' '--cluster' 'borealis' '--port' '8080' '--http-port' '8082' '--redo-port' '8081' '--cache-pages' '1024' '--redo-stream' 'redo'`,
    );
  });

  it('starts a reader with --writer-redo and BOREALIS_WRITER_REDO, in the reader task definition', async () => {
    const { fleet, sent } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: 'arn:reader' }] })],
      DescribeTasksCommand: [() => ({ tasks: [runningTask('arn:reader', '10.0.2.7')] })],
    });
    await fleet.startInstance('instance-2', 'reader', '10.0.1.23:8081');
    const run = sent.find((s) => s.command === 'RunTaskCommand')!.input;
    const override = (run.overrides as { containerOverrides: Array<Record<string, unknown>> })
      .containerOverrides[0]!;
    expect(run.taskDefinition).toBe('borealis-reader:3');
    expect(
      (run.networkConfiguration as { awsvpcConfiguration: { subnets: string[] } }).awsvpcConfiguration
        .subnets,
    ).toEqual(['subnet-b1', 'subnet-b2']);
    expect((override.command as string[])[2]).toContain(`'--writer-redo' '10.0.1.23:8081'`);
    expect(override.environment).toContainEqual({ name: 'BOREALIS_WRITER_REDO', value: '10.0.1.23:8081' });
  });

  it('resolves with the private IP DescribeTasks reports once RUNNING, and probes /health there', async () => {
    const { fleet, sent, probes } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }] })],
      DescribeTasksCommand: [
        () => ({ tasks: [{ taskArn: writerArn, lastStatus: 'PROVISIONING' }] }),
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23', 'PENDING')] }),
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23')] }),
      ],
    });
    const endpoints = await fleet.startInstance('instance-1', 'writer');
    expect(endpoints).toEqual({
      host: '10.0.1.23',
      port: ecsPorts.dataApi,
      redoPort: ecsPorts.redo,
      httpPort: ecsPorts.instanceHttp,
    });
    expect(
      sent
        .filter((s) => s.command === 'DescribeTasksCommand')
        .slice(0, 3)
        .map((s) => s.input),
    ).toEqual(Array(3).fill({ cluster: 'borealis-ecs', tasks: [writerArn] }));
    expect(probes[0]).toBe('10.0.1.23:8082');
    const slot = fleet.instance('instance-1')!;
    expect([slot.state, slot.host, slot.process?.ready.epoch, slot.process?.task]).toEqual([
      'running',
      '10.0.1.23',
      '4',
      writerArn,
    ]);
  });

  it('reports a task that ECS shows STOPPED as an exit, with the container exit code', async () => {
    const { fleet, exits } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }] })],
      DescribeTasksCommand: [
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23')] }),
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23')] }),
        () => ({
          tasks: [
            {
              ...runningTask(writerArn, '10.0.1.23', 'STOPPED'),
              stoppedReason: 'Essential container in task exited',
              containers: [{ name: ecsContainerName, exitCode: 137 }],
            },
          ],
        }),
      ],
    });
    await fleet.startInstance('instance-1', 'writer');
    await fleet.pollOnce(); // still RUNNING
    expect(exits).toEqual([]);
    await fleet.pollOnce(); // STOPPED
    expect(exits).toEqual([{ kind: 'instance', id: 'instance-1', code: 137 }]);
    expect(fleet.instance('instance-1')!.state).toBe('down');
    expect(fleet.instance('instance-1')!.process!.running).toBe(false);
  });

  it('stops an instance with StopTask and reports no exit for a stop it asked', async () => {
    const { fleet, sent, exits } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }] })],
      DescribeTasksCommand: [
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23')] }),
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23')] }),
        () => ({ tasks: [runningTask(writerArn, '10.0.1.23', 'STOPPED')] }),
      ],
      StopTaskCommand: [() => ({})],
    });
    await fleet.startInstance('instance-1', 'writer');
    await fleet.stopInstance('instance-1');
    expect(sent.find((s) => s.command === 'StopTaskCommand')!.input).toEqual({
      cluster: 'borealis-ecs',
      task: writerArn,
      reason: 'borealis: stop instance-1',
    });
    await fleet.pollOnce();
    expect(exits).toEqual([]);
    expect(fleet.instance('instance-1')!.state).toBe('down');
  });

  it('rejects with the reason of RunTask failures and leaves the instance down', async () => {
    const { fleet } = fleetWith({
      RunTaskCommand: [
        () => ({
          tasks: [],
          failures: [
            { arn: 'arn:aws:ecs:us-east-1:0:container-instance/x', reason: 'RESOURCE:ENI', detail: 'no ENI' },
          ],
        }),
      ],
    });
    const error = await fleet.startInstance('instance-1', 'writer').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BorealisError);
    expect((error as BorealisError).message).toBe(
      'ECS RunTask for writer instance-1 failed: RESOURCE:ENI (no ENI)',
    );
    expect(fleet.instance('instance-1')!.state).toBe('down');
  });

  it('turns a throttled call into a retryable UNAVAILABLE error naming the call', async () => {
    const { fleet } = fleetWith({
      RunTaskCommand: [
        () => {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        },
      ],
    });
    const error = (await fleet
      .startInstance('instance-1', 'writer')
      .catch((e: unknown) => e)) as BorealisError;
    expect([error.code, error.retryable, error.message]).toEqual([
      ErrorCode.UNAVAILABLE,
      true,
      'ECS RunTask (instance instance-1) was throttled: ThrottlingException: Rate exceeded',
    ]);
  });

  it('rejects a start when the task stops before it runs, with ECS\u2019s stopped reason', async () => {
    const { fleet } = fleetWith({
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }] })],
      DescribeTasksCommand: [
        () => ({
          tasks: [
            {
              taskArn: writerArn,
              lastStatus: 'STOPPED',
              stoppedReason: 'CannotPullContainerError',
            },
          ],
        }),
      ],
    });
    await expect(fleet.startInstance('instance-1', 'writer')).rejects.toThrow(
      'instance instance-1: task stopped before it ran: CannotPullContainerError',
    );
  });

  it('starts a storage node by its service (desired count 1) and kills it with desired count 0 + StopTask', async () => {
    const { fleet, sent, probes, exits } = fleetWith({
      UpdateServiceCommand: [() => ({})],
      ListTasksCommand: [() => ({ taskArns: [] }), () => ({ taskArns: [nodeArn] })],
      DescribeTasksCommand: [
        () => ({ tasks: [runningTask(nodeArn, '10.0.1.40')] }),
        () => ({ tasks: [runningTask(nodeArn, '10.0.1.40', 'STOPPED')] }),
      ],
      StopTaskCommand: [() => ({})],
    });
    await fleet.startStorage('n1');
    expect(probes).toEqual(['n1.borealis.borealis.internal:7101']);
    expect(fleet.storageSlot('n1')!.process!.task).toBe(nodeArn);
    expect(await fleet.kill('storage', 'n1')).toBeNull();
    await fleet.pollOnce();
    expect(sent.map((s) => [s.command, s.input])).toEqual([
      ['UpdateServiceCommand', { cluster: 'borealis-ecs', service: 'borealis-n1', desiredCount: 1 }],
      ['ListTasksCommand', { cluster: 'borealis-ecs', serviceName: 'borealis-n1', desiredStatus: 'RUNNING' }],
      ['ListTasksCommand', { cluster: 'borealis-ecs', serviceName: 'borealis-n1', desiredStatus: 'RUNNING' }],
      ['DescribeTasksCommand', { cluster: 'borealis-ecs', tasks: [nodeArn] }],
      ['UpdateServiceCommand', { cluster: 'borealis-ecs', service: 'borealis-n1', desiredCount: 0 }],
      ['StopTaskCommand', { cluster: 'borealis-ecs', task: nodeArn, reason: 'borealis: kill storage n1' }],
      ['DescribeTasksCommand', { cluster: 'borealis-ecs', tasks: [nodeArn] }],
    ]);
    // A kill is a crash: reported like any exit.
    expect(exits).toEqual([{ kind: 'storage', id: 'n1', code: null }]);
  });

  it('before its first RunTask, stops the instance tasks a previous control plane left running', async () => {
    const orphan = 'arn:aws:ecs:us-east-1:000000000000:task/borealis/old-writer';
    const { fleet, sent } = fleetWith({
      ListTasksCommand: [() => ({ taskArns: [orphan] })],
      StopTaskCommand: [() => ({})],
      RunTaskCommand: [() => ({ tasks: [{ taskArn: writerArn }] })],
      DescribeTasksCommand: [() => ({ tasks: [runningTask(writerArn, '10.0.1.23')] })],
    });
    await fleet.startInstance('instance-1', 'writer');
    expect(sent.slice(0, 3).map((s) => [s.command, s.input])).toEqual([
      [
        'ListTasksCommand',
        { cluster: 'borealis-ecs', startedBy: 'borealis-borealis', desiredStatus: 'RUNNING' },
      ],
      [
        'StopTaskCommand',
        { cluster: 'borealis-ecs', task: orphan, reason: 'borealis: left by a previous control plane' },
      ],
      ['RunTaskCommand', expect.objectContaining({ taskDefinition: 'borealis-writer:3' })],
    ]);
  });

  it('reads a task private IP from its ENI attachment, else from its container', () => {
    expect(taskPrivateIp(runningTask('a', '10.0.0.5'))).toBe('10.0.0.5');
    expect(taskPrivateIp({ containers: [{ networkInterfaces: [{ privateIpv4Address: '10.0.0.6' }] }] })).toBe(
      '10.0.0.6',
    );
    expect(taskPrivateIp({ attachments: [] })).toBeUndefined();
  });
});
