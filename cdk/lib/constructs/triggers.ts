// Each function's triggers, exactly as core/functions.ts defines them (the local function runner
// reads the same definitions): Kinesis event source mappings with an SQS on-failure destination,
// EventBridge rules for Borealis events, and EventBridge schedules. Scheduled invocations arrive as
// `detail-type: 'Scheduled Event'`, the shape the handlers check for.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type FunctionName, functionDefinitions, type KinesisTrigger } from '../../../core/functions.ts';

/** Failed-batch records point into the stream, whose data expires after 24 h: two weeks is ample. */
export const onFailureRetention = Duration.days(14);

export interface FunctionTriggersProps {
  functions: Readonly<Record<FunctionName, lambda.IFunction>>;
  streams: Readonly<Record<KinesisTrigger['stream'], kinesis.IStream>>;
}

export class FunctionTriggers extends Construct {
  /** The on-failure destination of each Kinesis-fed function. */
  readonly onFailure: Partial<Record<FunctionName, sqs.Queue>> = {};
  readonly rules: events.Rule[] = [];

  constructor(scope: Construct, id: string, props: FunctionTriggersProps) {
    super(scope, id);
    for (const definition of Object.values(functionDefinitions)) {
      const fn = props.functions[definition.name];
      definition.triggers.forEach((trigger, index) => {
        const triggerId = `${definition.name}-${trigger.kind}-${index}`;
        switch (trigger.kind) {
          case 'kinesis': {
            const queue = new sqs.Queue(this, `${triggerId}-OnFailure`, {
              encryption: sqs.QueueEncryption.SQS_MANAGED,
              enforceSSL: true,
              retentionPeriod: onFailureRetention,
              removalPolicy: RemovalPolicy.DESTROY,
            });
            Validations.of(queue).acknowledge({
              id: 'AwsSolutions-SQS3',
              reason:
                'This queue is itself the dead-letter destination: the on-failure destination of the ' +
                'Kinesis event source mapping (failed-batch records). A DLQ of a DLQ would add nothing.',
            });
            this.onFailure[definition.name] = queue;
            fn.addEventSource(
              new sources.KinesisEventSource(props.streams[trigger.stream], {
                batchSize: trigger.batchSize,
                maxBatchingWindow: Duration.millis(trigger.maxBatchingWindowMs),
                startingPosition: lambda.StartingPosition[trigger.startingPosition],
                bisectBatchOnError: trigger.bisectOnError,
                reportBatchItemFailures: trigger.reportBatchItemFailures,
                ...(trigger.retryAttempts === undefined ? {} : { retryAttempts: trigger.retryAttempts }),
                onFailure: new sources.SqsDlq(queue),
              }),
            );
            break;
          }
          case 'event':
            this.rules.push(
              new events.Rule(this, triggerId, {
                description: `${trigger.detailType} → ${definition.name}`,
                eventPattern: { source: [trigger.source], detailType: [trigger.detailType] },
                targets: [new targets.LambdaFunction(fn)],
              }),
            );
            break;
          case 'schedule':
            this.rules.push(
              new events.Rule(this, triggerId, {
                description: `${trigger.expression} → ${definition.name}`,
                schedule: events.Schedule.expression(trigger.expression),
                targets: [new targets.LambdaFunction(fn)],
              }),
            );
            break;
        }
      });
    }
  }
}
