// Test helpers for the snapshot function and the CLI (never imported by production code): an
// in-memory S3 that answers the three calls the snapshot code makes, and a synthetic database.
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
}

/** ListObjectsV2 pages of at most `pageSize` keys, so pagination is exercised. */
export function memoryS3(pageSize = 1000): MemoryS3 {
  const objects = new Map<string, Uint8Array>();
  const puts: string[] = [];
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof PutObjectCommand) {
      const { Key, Body } = command.input;
      const bytes = typeof Body === 'string' ? Buffer.from(Body) : Buffer.from(Body as Uint8Array);
      objects.set(Key!, bytes);
      puts.push(Key!);
      return {};
    }
    if (command instanceof GetObjectCommand) {
      const bytes = objects.get(command.input.Key!);
      if (!bytes) throw new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} });
      return {
        Body: {
          transformToString: async () => Buffer.from(bytes).toString('utf8'),
          transformToByteArray: async () => new Uint8Array(bytes),
        },
      };
    }
    if (command instanceof ListObjectsV2Command) {
      const { Prefix = '', ContinuationToken } = command.input;
      const keys = [...objects.keys()].filter((k) => k.startsWith(Prefix)).sort();
      const start = ContinuationToken ? Number(ContinuationToken) : 0;
      const page = keys.slice(start, start + pageSize);
      const more = start + pageSize < keys.length;
      return {
        Contents: page.map((Key) => ({ Key, Size: objects.get(Key)!.length })),
        IsTruncated: more,
        ...(more ? { NextContinuationToken: String(start + pageSize) } : {}),
      };
    }
    throw new Error(`memoryS3: ${(command as object).constructor.name} is not supported`);
  };
  return { client: { send } as unknown as S3Client, objects, puts };
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
