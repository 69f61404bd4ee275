// The region's backup bucket: continuous-backup log chunks, snapshots and manifests. Encrypted with
// a customer-managed KMS key (rotated yearly), never public, TLS only, and kept when the stack is
// deleted (it holds the only copy of old backups).
//
// Lifecycle and retention: objects are expired by the backup-retention function, not by an S3
// age rule. Snapshot pages are content-addressed and shared by every later snapshot, and the log
// chunks needed to reach the start of the window are older than the window itself, so an
// age-based expiry would delete data that a restore inside the retention window still needs. The
// bucket's lifecycle only clears what no backup refers to: incomplete multipart uploads (a
// snapshot or chunk upload cut off by a timeout) after a day.
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface BackupStorageProps {
  bucketName: string;
}

/** An upload that has not completed in this long was cut off: its parts are garbage. */
export const incompleteUploadExpiryDays = 1;

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
      lifecycleRules: [
        {
          id: 'abort-incomplete-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(incompleteUploadExpiryDays),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the Borealis functions and the writer touch this bucket, through roles granted exact actions; ' +
        'a server access log bucket per region would be a second unaudited bucket. Use CloudTrail S3 data ' +
        'events where an audit trail of object access is required.',
    });
  }
}
