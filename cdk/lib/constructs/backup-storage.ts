// The region's backup bucket: continuous-backup log chunks, snapshots and manifests. Encrypted with
// a customer-managed KMS key, never public, TLS only, and kept when the stack is deleted (it holds
// the only copy of old backups).
import { RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface BackupStorageProps {
  bucketName: string;
}

export class BackupStorage extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: BackupStorageProps) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: `Borealis backup encryption (${props.bucketName})`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
