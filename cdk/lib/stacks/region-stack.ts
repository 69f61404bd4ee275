// One stack per region: everything regional a Borealis cluster needs in AWS (or LocalStack).
// Today the data plane's AWS resources; the functions and compute join as their issues land.
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { regionalResources } from '../../../core/resources.ts';
import { BackupStorage } from '../constructs/backup-storage.ts';
import { Streams } from '../constructs/streams.ts';

export interface RegionStackProps extends StackProps {
  clusterName: string;
  region: string;
}

export class RegionStack extends Stack {
  readonly backup: BackupStorage;
  readonly streams: Streams;

  constructor(scope: Construct, id: string, props: RegionStackProps) {
    super(scope, id, { ...props, env: { region: props.region } });
    const resources = regionalResources(props.region, props.clusterName);
    this.backup = new BackupStorage(this, 'Backup', { bucketName: resources.backupBucket });
    this.streams = new Streams(this, 'Streams', {
      redo: resources.redoStream,
      binlog: resources.binlogStream,
    });
  }
}
