// Where the binlog streamer keeps the fragments of a change too large for one RowImages record until
// its last fragment arrives — possibly in a later invocation, possibly in another container: the
// backup bucket, under clusters/<cluster>/binlog/fragments/<lsn0>/<index>. A redelivered fragment overwrites
// its own object. Deletions wait until the joined change's events are on the binlog stream
// (flushDeletes), so a retried invocation still finds every fragment it needs.
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { FragmentStore } from '../../core/binlog/events.ts';
import { fragmentsPrefix } from '../../core/binlog/retention.ts';

/** Deletions in flight at once when a joined change's fragments go. */
const deleteConcurrencyMax = 16;

export function fragmentPrefix(cluster: string, lsn0: bigint): string {
  return `${fragmentsPrefix(cluster)}${lsn0}/`;
}

export function fragmentKey(cluster: string, lsn0: bigint, index: number): string {
  return `${fragmentPrefix(cluster, lsn0)}${index}`;
}

export class S3FragmentStore implements FragmentStore {
  /** Deletions asked for, with the input record (index in the event) whose events must be out first. */
  readonly #pendingDeletes: Array<{ owner: number; lsn0: bigint; count: number }> = [];
  /** The input record being decoded: deletions asked for now belong to it. */
  owner = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly cluster: string,
  ) {}

  async put(lsn0: bigint, index: number, bytes: Uint8Array): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: fragmentKey(this.cluster, lsn0, index),
        Body: bytes,
        ContentType: 'application/octet-stream',
      }),
    );
  }

  async get(lsn0: bigint, index: number): Promise<Uint8Array | undefined> {
    try {
      const got = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: fragmentKey(this.cluster, lsn0, index) }),
      );
      return await got.Body!.transformToByteArray();
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw error;
    }
  }

  /** Deferred: recorded for flushDeletes. */
  async delete(lsn0: bigint, count: number): Promise<void> {
    this.#pendingDeletes.push({ owner: this.owner, lsn0, count });
  }

  /** Deletions deferred so far, for the tests. */
  get pendingDeletes(): number {
    return this.#pendingDeletes.length;
  }

  /**
   * Deletes the fragments of the changes whose input record is below `ownerLimit` (their events are
   * out); returns how many objects went. A failed delete only leaves an orphan behind (logged by the
   * caller): it never blocks the stream.
   */
  async flushDeletes(ownerLimit: number): Promise<{ deleted: number; failed: number }> {
    const keys: string[] = [];
    for (const d of this.#pendingDeletes.splice(0)) {
      if (d.owner >= ownerLimit) continue;
      for (let i = 0; i < d.count; i++) keys.push(fragmentKey(this.cluster, d.lsn0, i));
    }
    let deleted = 0;
    let failed = 0;
    for (let i = 0; i < keys.length; i += deleteConcurrencyMax) {
      const results = await Promise.allSettled(
        keys
          .slice(i, i + deleteConcurrencyMax)
          .map((key) => this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }))),
      );
      for (const r of results) r.status === 'fulfilled' ? deleted++ : failed++;
    }
    return { deleted, failed };
  }
}
