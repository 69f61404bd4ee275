// The region's Kinesis streams: durable redo batches (feeding backup, CDC and global replication)
// and row-level binlog events for consumers. Sizes come from core/resources.ts, as for the
// embedded emulators.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { Construct } from 'constructs';
import type { StreamDefinition } from '../../../core/resources.ts';

export interface StreamsProps {
  redo: StreamDefinition;
  binlog: StreamDefinition;
}

export class Streams extends Construct {
  readonly redo: kinesis.Stream;
  readonly binlog: kinesis.Stream;

  constructor(scope: Construct, id: string, props: StreamsProps) {
    super(scope, id);
    const common = { encryption: kinesis.StreamEncryption.MANAGED, removalPolicy: RemovalPolicy.RETAIN };
    this.redo = new kinesis.Stream(this, 'Redo', {
      streamName: props.redo.name,
      shardCount: props.redo.shardCount,
      ...common,
    });
    this.binlog = new kinesis.Stream(this, 'Binlog', {
      streamName: props.binlog.name,
      shardCount: props.binlog.shardCount,
      ...common,
    });
  }
}
