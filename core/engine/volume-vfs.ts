// The SQLite VFS where Borealis begins: the main database file is the cluster volume. Reads come
// from the instance's page cache or, on a miss, from storage at the connection's read point;
// a write transaction's pages are staged per connection (spills included) and handed to the engine
// as one atomic batch at COMMIT_ATOMIC_WRITE. Every other file (temp, journal) lives in memory.
//
// Every method is synchronous to wa-sqlite. A method it registers as async costs an Asyncify unwind
// and rewind of the whole wasm stack on every call, even when the answer is at hand; a statement makes
// well over ten VFS calls and nearly all are answered at once (locks, cached pages). Only a page that
// must come from storage, and a commit, suspend the module (#suspend): the calls that wait for I/O.
import { FacadeVFS } from '@journeyapps/wa-sqlite/src/FacadeVFS.js';
import { assert } from '../assert.ts';
import type { Lsn } from '../lsn.ts';
import { SQLite } from './runtime.ts';

/** What the VFS needs from the instance (writer or reader) behind it. */
export interface VolumeEngine {
  readonly pageSizeBytes: number;
  readonly readOnly: boolean;
  /** The read point a new read transaction would see (the latest commit visible), not pinned. */
  currentReadPoint(): Lsn;
  /** Pins and returns the current read point. */
  pinReadPoint(): Lsn;
  unpinReadPoint(readPoint: Lsn): void;
  /** The page as of readPoint; empty when it did not exist then. */
  readPage(pageNo: number, readPoint: Lsn): Uint8Array | Promise<Uint8Array>;
  /** A connection whose snapshot is readPoint wants to write: SQLITE_OK, or SQLITE_BUSY if stale. */
  beginWrite(readPoint: Lsn): number;
  /** One transaction's pages, atomically. Resolves with an SQLite result code and the commit LSN. */
  commitPages(pages: Map<number, Uint8Array>, readPoint: Lsn): Promise<{ rc: number; commitLsn?: Lsn }>;
}

interface MainHandle {
  kind: 'main';
  lock: number;
  readPoint: Lsn | undefined;
  /** Pages this connection wrote in its open transaction (spilled early or in the batch). */
  staged: Map<number, Uint8Array>;
}

interface MemoryFile {
  name: string;
  data: Uint8Array;
  size: number;
  deleteOnClose: boolean;
}

interface MemoryHandle {
  kind: 'memory';
  file: MemoryFile;
}

/** What the Asyncify build of the module offers to suspend it from inside an import. */
interface AsyncifyModule {
  /**
   * Unwinds the wasm stack and runs `start`; once its promise resolves, rewinds by calling the same
   * import again with the same arguments, where handleAsync (called again) returns the result.
   */
  handleAsync(start: () => Promise<number>): number;
}

export class VolumeVfs extends FacadeVFS {
  readonly #handles = new Map<number, MainHandle | MemoryHandle>();
  readonly #memoryFiles = new Map<string, MemoryFile>();
  /** The last failure behind an error code returned to SQLite, for logs. */
  lastError: unknown;
  readonly #asyncify: AsyncifyModule;
  /** The method whose call suspended the module and will be called again to resume it. */
  #suspendedIn: string | undefined;

  constructor(
    name: string,
    module: unknown,
    readonly databaseName: string,
    private readonly engine: VolumeEngine,
  ) {
    super(name, module);
    this.#asyncify = module as AsyncifyModule;
    assert(
      typeof this.#asyncify.handleAsync === 'function',
      'the VFS needs the Asyncify build of wa-sqlite (handleAsync)',
    );
  }

  /**
   * Suspends the module until `work` settles and returns its result to SQLite. The value returned now
   * is ignored (the wasm stack is unwinding); SQLite gets the real one when the rewind calls `method`
   * again, which must begin with #resumed. `work` must not reject: the module would never resume.
   */
  #suspend(method: string, work: () => Promise<number>, failure: number): number {
    assert(
      this.#suspendedIn === undefined,
      () => `${method} suspends while ${this.#suspendedIn} is suspended`,
    );
    this.#suspendedIn = method;
    return this.#asyncify.handleAsync(() =>
      work().catch((error: unknown) => {
        this.lastError = error;
        return failure;
      }),
    );
  }

  /** The result of this method's suspended call when the rewind calls it again; else undefined. */
  #resumed(method: string): number | undefined {
    if (this.#suspendedIn === undefined) return undefined;
    assert(this.#suspendedIn === method, () => `${method} called while ${this.#suspendedIn} is suspended`);
    this.#suspendedIn = undefined;
    // Rewinding: handleAsync returns the settled result without calling its argument.
    return this.#asyncify.handleAsync(() => Promise.resolve(SQLite.SQLITE_IOERR));
  }

  #isMain(name: string | null): boolean {
    return (
      name !== null && new URL(name, 'file://').pathname === new URL(this.databaseName, 'file://').pathname
    );
  }

  jOpen(name: string | null, fileId: number, flags: number, pOutFlags: DataView): number {
    if (this.#isMain(name)) {
      this.#handles.set(fileId, {
        kind: 'main',
        lock: SQLite.SQLITE_LOCK_NONE,
        readPoint: undefined,
        staged: new Map(),
      });
    } else {
      const key = name ?? `temp-${fileId}-${Math.random().toString(36).slice(2)}`;
      let file = this.#memoryFiles.get(key);
      if (!file) {
        if (!(flags & SQLite.SQLITE_OPEN_CREATE)) return SQLite.SQLITE_CANTOPEN;
        file = {
          name: key,
          data: new Uint8Array(0),
          size: 0,
          deleteOnClose: (flags & SQLite.SQLITE_OPEN_DELETEONCLOSE) !== 0,
        };
        this.#memoryFiles.set(key, file);
      }
      this.#handles.set(fileId, { kind: 'memory', file });
    }
    pOutFlags.setInt32(
      0,
      this.engine.readOnly && this.#isMain(name) ? flags | SQLite.SQLITE_OPEN_READONLY : flags,
      true,
    );
    return SQLite.SQLITE_OK;
  }

  jClose(fileId: number): number {
    const handle = this.#handles.get(fileId);
    this.#handles.delete(fileId);
    if (handle?.kind === 'main' && handle.readPoint !== undefined)
      this.engine.unpinReadPoint(handle.readPoint);
    if (handle?.kind === 'memory' && handle.file.deleteOnClose) this.#memoryFiles.delete(handle.file.name);
    return SQLite.SQLITE_OK;
  }

  jRead(fileId: number, pData: Uint8Array, iOffset: number): number {
    const resumed = this.#resumed('jRead');
    if (resumed !== undefined) return resumed;
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') return readMemory(handle.file, pData, iOffset);
    const pageSize = this.engine.pageSizeBytes;
    const pageNo = Math.floor(iOffset / pageSize) + 1;
    const within = iOffset % pageSize;
    assert(within + pData.length <= pageSize, 'a main-database read never spans pages');
    const readPoint = handle.readPoint ?? this.engine.currentReadPoint();
    // Storage could not serve the page (no full segment reachable and complete): the statement
    // fails with an I/O error; the instance stays up.
    const failure = SQLite.SQLITE_IOERR_READ;
    let page: Uint8Array | Promise<Uint8Array>;
    try {
      page = handle.staged.get(pageNo) ?? this.engine.readPage(pageNo, readPoint);
    } catch (error) {
      this.lastError = error;
      return failure;
    }
    if (!(page instanceof Promise)) return copyPage(page, pData, within);
    const fetching = page;
    return this.#suspend('jRead', async () => copyPage(await fetching, pData, within), failure);
  }

  jWrite(fileId: number, pData: Uint8Array, iOffset: number): number {
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') return writeMemory(handle.file, pData, iOffset);
    if (this.engine.readOnly) return SQLite.SQLITE_READONLY;
    const pageSize = this.engine.pageSizeBytes;
    if (iOffset % pageSize !== 0 || pData.length !== pageSize) return SQLite.SQLITE_IOERR_WRITE;
    // pData is a view into the module's memory: copy before anything can move it.
    handle.staged.set(iOffset / pageSize + 1, pData.slice());
    return SQLite.SQLITE_OK;
  }

  jTruncate(fileId: number, size: number): number {
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') {
      handle.file.size = Math.min(handle.file.size, size);
      return SQLite.SQLITE_OK;
    }
    // The volume's size is the in-header page count of page 1, committed with the transaction that
    // shrank it; pages past it are simply never read again.
    return SQLite.SQLITE_OK;
  }

  jSync(): number {
    return SQLite.SQLITE_OK;
  }

  jFileSize(fileId: number, pSize64: DataView): number {
    const resumed = this.#resumed('jFileSize');
    if (resumed !== undefined) return resumed;
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') {
      pSize64.setBigInt64(0, BigInt(handle.file.size), true);
      return SQLite.SQLITE_OK;
    }
    const readPoint = handle.readPoint ?? this.engine.currentReadPoint();
    const failure = SQLite.SQLITE_IOERR_FSTAT;
    let page1: Uint8Array | Promise<Uint8Array>;
    try {
      page1 = handle.staged.get(1) ?? this.engine.readPage(1, readPoint);
    } catch (error) {
      this.lastError = error;
      return failure;
    }
    if (!(page1 instanceof Promise)) return this.#fileSize(handle, page1, pSize64);
    const fetching = page1;
    return this.#suspend('jFileSize', async () => this.#fileSize(handle, await fetching, pSize64), failure);
  }

  #fileSize(handle: MainHandle, page1: Uint8Array, pSize64: DataView): number {
    // Bytes 28–31 of page 1: the database size in pages, kept by SQLite on every commit.
    let pages = page1.length >= 32 ? new DataView(page1.buffer, page1.byteOffset, 32).getUint32(28) : 0;
    for (const pageNo of handle.staged.keys()) if (pageNo > pages) pages = pageNo;
    pSize64.setBigInt64(0, BigInt(pages) * BigInt(this.engine.pageSizeBytes), true);
    return SQLite.SQLITE_OK;
  }

  jLock(fileId: number, lockType: number): number {
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') return SQLite.SQLITE_OK;
    if (handle.lock === SQLite.SQLITE_LOCK_NONE && lockType >= SQLite.SQLITE_LOCK_SHARED) {
      handle.readPoint = this.engine.pinReadPoint();
    }
    if (lockType >= SQLite.SQLITE_LOCK_RESERVED && handle.lock < SQLite.SQLITE_LOCK_RESERVED) {
      if (this.engine.readOnly) return SQLite.SQLITE_READONLY;
      const rc = this.engine.beginWrite(handle.readPoint!);
      if (rc !== SQLite.SQLITE_OK) return rc;
    }
    handle.lock = Math.max(handle.lock, lockType);
    return SQLite.SQLITE_OK;
  }

  jUnlock(fileId: number, lockType: number): number {
    const handle = this.#handles.get(fileId)!;
    if (handle.kind === 'memory') return SQLite.SQLITE_OK;
    // Leaving a write transaction without a commit: whatever it staged is rolled back.
    if (lockType < SQLite.SQLITE_LOCK_RESERVED && handle.lock >= SQLite.SQLITE_LOCK_RESERVED)
      handle.staged.clear();
    if (lockType === SQLite.SQLITE_LOCK_NONE && handle.readPoint !== undefined) {
      this.engine.unpinReadPoint(handle.readPoint);
      handle.readPoint = undefined;
    }
    handle.lock = lockType;
    return SQLite.SQLITE_OK;
  }

  jCheckReservedLock(_fileId: number, pResOut: DataView): number {
    pResOut.setInt32(0, 0, true);
    return SQLite.SQLITE_OK;
  }

  jFileControl(fileId: number, op: number): number {
    const resumed = this.#resumed('jFileControl');
    if (resumed !== undefined) return resumed;
    const handle = this.#handles.get(fileId);
    if (handle?.kind !== 'main') return SQLite.SQLITE_NOTFOUND;
    switch (op) {
      case SQLite.SQLITE_FCNTL_BEGIN_ATOMIC_WRITE:
      case SQLite.SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE:
        return SQLite.SQLITE_OK;
      case SQLite.SQLITE_FCNTL_COMMIT_ATOMIC_WRITE:
        // Never SQLITE_IOERR on failure: SQLite would fall back to a journal and report success.
        return this.#suspend('jFileControl', () => this.#commit(handle), SQLite.SQLITE_BUSY);
      default:
        return SQLite.SQLITE_NOTFOUND;
    }
  }

  async #commit(handle: MainHandle): Promise<number> {
    assert(handle.readPoint !== undefined, 'a commit happens under a lock');
    const { rc, commitLsn } = await this.engine.commitPages(handle.staged, handle.readPoint);
    // On failure SQLite rolls the transaction back itself; SQLITE_BUSY/FULL keep that clean.
    if (rc !== SQLite.SQLITE_OK) return rc;
    handle.staged.clear();
    if (commitLsn !== undefined) {
      // The connection now sees its own commit.
      this.engine.unpinReadPoint(handle.readPoint);
      handle.readPoint = this.engine.pinReadPoint();
    }
    return SQLite.SQLITE_OK;
  }

  jSectorSize(): number {
    return this.engine.pageSizeBytes;
  }

  jDeviceCharacteristics(): number {
    return SQLite.SQLITE_IOCAP_BATCH_ATOMIC;
  }

  jAccess(name: string, _flags: number, pResOut: DataView): number {
    const exists = this.#isMain(name) || this.#memoryFiles.has(name);
    pResOut.setInt32(0, exists ? 1 : 0, true);
    return SQLite.SQLITE_OK;
  }

  jDelete(name: string): number {
    this.#memoryFiles.delete(name);
    return SQLite.SQLITE_OK;
  }
}

/** A page (or the part SQLite asked for) into SQLite's buffer; an empty page did not exist yet. */
function copyPage(page: Uint8Array, pData: Uint8Array, within: number): number {
  if (page.length === 0) {
    pData.fill(0);
    return SQLite.SQLITE_IOERR_SHORT_READ;
  }
  pData.set(page.subarray(within, within + pData.length));
  return SQLite.SQLITE_OK;
}

function readMemory(file: MemoryFile, pData: Uint8Array, iOffset: number): number {
  const end = Math.min(iOffset + pData.length, file.size);
  const n = Math.max(0, end - iOffset);
  if (n > 0) pData.set(file.data.subarray(iOffset, iOffset + n));
  if (n < pData.length) {
    pData.fill(0, n);
    return SQLite.SQLITE_IOERR_SHORT_READ;
  }
  return SQLite.SQLITE_OK;
}

function writeMemory(file: MemoryFile, pData: Uint8Array, iOffset: number): number {
  const end = iOffset + pData.length;
  if (end > file.data.length) {
    const grown = new Uint8Array(Math.max(end, file.data.length * 2));
    grown.set(file.data.subarray(0, file.size));
    file.data = grown;
  }
  file.data.set(pData, iOffset);
  file.size = Math.max(file.size, end);
  return SQLite.SQLITE_OK;
}
