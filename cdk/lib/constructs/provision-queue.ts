// The region's provision queue (core/resources.ts: `<cluster>-provision`): the restore function
// asks there for a new cluster, and whoever runs the clusters (`borealis up --aws` in external
// compute mode) takes the requests and reports in SSM (core/cluster/provision.ts). Encrypted,
// TLS-only, with a dead-letter queue for a request its consumer kept failing to take.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/**
 * A request is worth starting only while its requester waits (the restore function: 15 minutes at
 * most; the consumer drops older creates): an hour keeps any request long enough to be seen.
 */
export const provisionRequestRetention = Duration.hours(1);
/** A request taken this many times without being deleted goes to the dead-letter queue. */
export const provisionMaxReceiveCount = 3;
/** Dead letters are kept for an operator to read: two weeks, like the functions' on-failure queues. */
export const provisionDeadLetterRetention = Duration.days(14);

export interface ProvisionQueueProps {
  queueName: string;
}

export class ProvisionQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: ProvisionQueueProps) {
    super(scope, id);
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      queueName: `${props.queueName}-dlq`,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: provisionDeadLetterRetention,
      // Requests are transient: a restore asked again makes a new one.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the provision queue: a DLQ of a DLQ would add nothing.',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: props.queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: provisionRequestRetention,
      deadLetterQueue: { queue: this.deadLetters, maxReceiveCount: provisionMaxReceiveCount },
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
