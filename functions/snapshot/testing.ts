// Test helpers for the snapshot function and the CLI (never imported by production code): an
// in-memory S3 that answers the calls the snapshot and restore code make (GETs with a Range too),
// and a synthetic database.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export interface MemoryS3 {
  client: S3Client;
  objects: Map<string, Uint8Array>;
  puts: string[];
  /** Every GET: key and Range header (undefined for a whole object). */
  gets: { key: string; range: string | undefined }[];
}

/** ListObjectsV2 pages of at most `pageSize` keys, so pagination is exercised. */
export function memoryS3(pageSize = 1000): MemoryS3 {
  const objects = new Map<string, Uint8Array>();
  const puts: string[] = [];
  const gets: MemoryS3['gets'] = [];
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof PutObjectCommand) {
      const { Key, Body } = command.input;
      const bytes = typeof Body === 'string' ? Buffer.from(Body) : Buffer.from(Body as Uint8Array);
      objects.set(Key!, bytes);
      puts.push(Key!);
      return {};
    }
    if (command instanceof GetObjectCommand) {
      const { Key, Range } = command.input;
      gets.push({ key: Key!, range: Range });
      const whole = objects.get(Key!);
      if (!whole) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      const range = Range === undefined ? undefined : /^bytes=(\d+)-(\d+)$/.exec(Range);
      if (Range !== undefined && !range) throw new Error(`memoryS3: unsupported Range ${Range}`);
      const bytes = range ? whole.subarray(Number(range[1]), Number(range[2]) + 1) : whole;
      return {
        Body: {
          transformToString: async () => Buffer.from(bytes).toString('utf8'),
          transformToByteArray: async () => new Uint8Array(bytes),
        },
      };
    }
    if (command instanceof ListObjectsV2Command) {
      const { Prefix = '', ContinuationToken, StartAfter = '' } = command.input;
      // The token is the last key returned, so that StartAfter holds on every page as in S3.
      const after = ContinuationToken ?? StartAfter;
      const keys = [...objects.keys()].filter((k) => k.startsWith(Prefix) && k > after).sort();
      const page = keys.slice(0, pageSize);
      const more = pageSize < keys.length;
      return {
        Contents: page.map((Key) => ({ Key, Size: objects.get(Key)!.length })),
        IsTruncated: more,
        ...(more ? { NextContinuationToken: page.at(-1)! } : {}),
      };
    }
    throw new Error(`memoryS3: ${(command as object).constructor.name} is not supported`);
  };
  return { client: { send } as unknown as S3Client, objects, puts, gets };
}

/** A page 1 with SQLite's header: page size and size in pages (version-valid-for = change counter). */
export function headerPage(pageSizeBytes: number, pageCount: number, changeCounter = 1): Uint8Array {
  const page = new Uint8Array(pageSizeBytes);
  page.set(Buffer.from('SQLite format 3\0', 'latin1'), 0);
  const view = new DataView(page.buffer);
  view.setUint16(16, pageSizeBytes === 65536 ? 1 : pageSizeBytes);
  view.setUint32(24, changeCounter);
  view.setUint32(28, pageCount);
  view.setUint32(92, changeCounter);
  return page;
}
