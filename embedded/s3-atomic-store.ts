// S3's object semantics for s3rver's filesystem store: a PUT replaces the object whole, and a GET
// sees one version whole — never a mix. s3rver writes an object in place (truncate, then stream) and
// answers the PUT before the bytes are on disk; its GET takes the length from one stat and reads the
// file later. A GET racing a PUT of the same key (the archive watermark, rewritten every second)
// then gets a body shorter than its Content-Length, and the client fails with "aborted".
//
// Here a PUT writes the object, its MD5 and its metadata to temporary files beside it and renames
// them into place; GET (metadata + open), PUT (the renames) and DELETE of one key run one at a time
// per key. An open file keeps the version it opened after a rename, so a GET streams exactly the
// version whose length it announced.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** The parts of s3rver's FilesystemStore (lib/stores/filesystem.js, 3.7) this module replaces or uses. */
export interface FilesystemStoreLike {
  getResourcePath(bucket: string, key: string, resource: string): string;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: S3ObjectLike): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<void>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    metadata?: unknown,
  ): Promise<unknown>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}

interface S3ObjectLike {
  bucket: string;
  key: string;
  content: Buffer | NodeJS.ReadableStream;
  metadata: Record<string, string>;
}

let temporaryFiles = 0;

export function makeObjectWritesAtomic(store: FilesystemStoreLike): void {
  const tails = new Map<string, Promise<unknown>>();
  /** Runs `work` after every earlier operation on the same key; the map holds only keys in use. */
  const serially = <T>(bucket: string, key: string, work: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const run = (tails.get(id) ?? Promise.resolve()).then(work, work);
    const tail = run.catch(() => undefined);
    tails.set(id, tail);
    void tail.then(() => {
      if (tails.get(id) === tail) tails.delete(id);
    });
    return run;
  };

  const getObject = store.getObject.bind(store);
  const deleteObject = store.deleteObject.bind(store);
  const copyObject = store.copyObject.bind(store);
  // Unbound: it is called on a shim that redirects where it writes (writeStagedMetadata).
  const putMetadata = store.putMetadata;

  store.getObject = (bucket, key, options) => serially(bucket, key, () => getObject(bucket, key, options));
  store.deleteObject = (bucket, key) => serially(bucket, key, () => deleteObject(bucket, key));
  store.copyObject = (srcBucket, srcKey, destBucket, destKey, metadata) =>
    serially(destBucket, destKey, () => copyObject(srcBucket, srcKey, destBucket, destKey, metadata));

  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    const suffix = `.tmp-${process.pid}-${++temporaryFiles}`;
    const staged = {
      object: `${objectPath}${suffix}`,
      md5: `${objectPath}.md5${suffix}`,
      metadata: `${store.getResourcePath(object.bucket, object.key, 'metadata.json')}${suffix}`,
    };
    try {
      // A concurrent DELETE of a sibling key may remove an empty parent directory: make it again.
      for (let attempt = 1; ; attempt++) {
        await mkdir(dirname(objectPath), { recursive: true });
        try {
          const { size, md5 } = await writeContent(object.content, staged.object);
          // s3rver's own putMetadata writes <object>.md5 and <metadata.json>: let it write the staged
          // copies by pointing it at them through a shim of getResourcePath.
          await writeStagedMetadata(store, putMetadata, object, md5, staged);
          await serially(object.bucket, object.key, async () => {
            await rename(staged.md5, `${objectPath}.md5`);
            await rename(staged.metadata, store.getResourcePath(object.bucket, object.key, 'metadata.json'));
            await rename(staged.object, objectPath);
          });
          return { size, md5 };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error;
        }
      }
    } finally {
      await Promise.all(Object.values(staged).map((p) => rm(p, { force: true })));
    }
  };
}

async function writeContent(
  content: Buffer | NodeJS.ReadableStream,
  path: string,
): Promise<{ size: number; md5: string }> {
  const hash = createHash('md5');
  if (Buffer.isBuffer(content)) {
    hash.update(content);
    await writeFile(path, content);
    return { size: content.length, md5: hash.digest('hex') };
  }
  let size = 0;
  await pipeline(
    content,
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    }),
    createWriteStream(path),
  );
  return { size, md5: hash.digest('hex') };
}

async function writeStagedMetadata(
  store: FilesystemStoreLike,
  putMetadata: FilesystemStoreLike['putMetadata'],
  object: S3ObjectLike,
  md5: string,
  staged: { md5: string; metadata: string },
): Promise<void> {
  const shim = Object.create(store) as FilesystemStoreLike;
  shim.getResourcePath = (bucket, key, resource) =>
    resource === 'object.md5'
      ? staged.md5
      : resource === 'metadata.json'
        ? staged.metadata
        : store.getResourcePath(bucket, key, resource);
  await putMetadata.call(shim, object.bucket, object.key, object.metadata, md5);
}
