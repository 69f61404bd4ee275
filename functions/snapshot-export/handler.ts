// The snapshot-export function's logic: a snapshot's tables as Parquet in S3, the way Aurora's
// StartExportTask writes them. Its only inputs are S3 objects (the snapshot's manifest and page
// packs) and the request — never the running cluster — so a write load on the cluster cannot change
// what is exported, and the export costs the cluster nothing.
//
// 1. start: check the request; refuse a used export id (ExportTaskAlreadyExists), an unknown
//    snapshot (DBClusterSnapshotNotFoundFault), a prefix inside the backup's own keys; write the task
//    record (STARTING). Nothing else is written before these checks pass.
// 2. run (IN_PROGRESS): rebuild the database file from the packs (database-file.ts), open it
//    read-only (sqlite-reader.ts), pick the tables (ExportOnly names that are not in the snapshot
//    fail the task before any Parquet is written), pre-scan each table's storage classes to choose
//    its Parquet types (type-mapping.ts), then stream its rows in row groups into part files and
//    upload them (parquet-parts.ts), `_SUCCESS` after the last part.
// 3. end: the metadata documents (metadata.ts), then the task record COMPLETE, FAILED (with
//    FailureCause) or CANCELED (a cancel marker seen between row groups). Tables that cannot be
//    exported (virtual tables, names that cannot be a folder) are SKIPPED and listed in
//    WarningMessage, as are columns whose values did not fit their declared type.

import { randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { assert } from '../../core/assert.ts';
import { clusterPrefix, type SnapshotManifest } from '../../core/backup/archive.ts';
import { readManifest } from '../snapshot/catalog.ts';
import { writeDatabaseFile } from './database-file.ts';
import {
  exportInfoDocument,
  exportInfoKey,
  partKey,
  successMarker,
  type TableResult,
  tableFolder,
  tablesInfoDocument,
  tablesInfoKey,
  unexportableNameReason,
} from './metadata.ts';
import { rowGroupBytesMax, rowGroupRowsMax, TableParts } from './parquet-parts.ts';
import { SnapshotDatabase, type TableInfo } from './sqlite-reader.ts';
import {
  cancelRequested,
  checkExportRequest,
  ExportFault,
  type ExportRequest,
  type ExportTask,
  newTask,
  readTask,
  sameRequest,
  taskRecordsPrefix,
  writeTask,
} from './task.ts';
import { type ColumnMapping, mapColumn, needsIntegerRange, quoteIdentifier } from './type-mapping.ts';

/** The task record is rewritten (progress) and the cancel marker checked at most this often. */
export const checkpointIntervalMsDefault = 2_000;
/** WarningMessage is cut here (a table with many odd columns must not make the record huge). */
export const warningMessageCharsMax = 4_000;
/** Multipart upload of a part: bytes per request and requests in flight (memory: their product). */
const uploadPartBytes = 8 * 2 ** 20;
const uploadsInFlight = 2;
/** Share of PercentProgress the download of the pages takes; the rows take the rest. */
const downloadPercent = 10;

export interface ExportDeps {
  s3: S3Client;
  /** The cluster's backup bucket: snapshots and task records. */
  bucket: string;
  region: string;
  /** Where the database file and part files are made (Lambda: /tmp). Default os.tmpdir(). */
  tempDir?: string;
  now?: () => Date;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Called whenever the task record is written (the CLI's progress bar); awaited. */
  onProgress?: (task: ExportTask) => void | Promise<void>;
  checkpointIntervalMs?: number;
  /** Bytes at which a part file is closed (tests use small parts). */
  partBytesTarget?: number;
  /** Rows per row group at most (default rowGroupRowsMax). */
  rowGroupRows?: number;
}

/** The database folder of the layout: Borealis runs one database per cluster, named after it. */
export function databaseNameOf(cluster: string): string {
  return cluster;
}

/** The backup bucket's own key roots (core/backup/archive.ts, task.ts): no export goes under them. */
const clustersRoot = 'clusters/';
assert(clusterPrefix('c').startsWith(clustersRoot), "cluster keys live under 'clusters/'");
const reservedRoots = [clustersRoot, taskRecordsPrefix] as const;

/** Refuses a destination inside the backup's own keys: an export must never overwrite a backup. */
function checkDestination(request: ExportRequest, backupBucket: string): void {
  if ((request.s3Bucket ?? backupBucket) !== backupBucket) return;
  const root = `${request.s3Prefix ? `${request.s3Prefix}/` : ''}${request.exportTaskIdentifier}/`;
  for (const reserved of reservedRoots) {
    if (root.startsWith(reserved)) {
      throw new ExportFault(
        'InvalidParameterValue',
        `S3 prefix '${request.s3Prefix}' would put the export inside the backup bucket's own '${reserved}' keys`,
      );
    }
  }
}

async function manifestOrFault(deps: ExportDeps, request: ExportRequest): Promise<SnapshotManifest> {
  const manifest = await readManifest(deps.s3, deps.bucket, request.cluster, request.snapshotIdentifier);
  if (!manifest) {
    throw new ExportFault(
      'DBClusterSnapshotNotFoundFault',
      `snapshot '${request.snapshotIdentifier}' of cluster '${request.cluster}' is not in s3://${deps.bucket}`,
      { snapshotId: request.snapshotIdentifier },
    );
  }
  return manifest;
}

/**
 * StartExportTask: checks everything a caller can get wrong and records the task (STARTING). Throws
 * an ExportFault, having written nothing, when the request cannot start.
 */
export async function startExportTask(deps: ExportDeps, raw: unknown): Promise<ExportTask> {
  const request = checkExportRequest(raw);
  checkDestination(request, deps.bucket);
  if (await readTask(deps.s3, deps.bucket, request.exportTaskIdentifier)) {
    throw new ExportFault(
      'ExportTaskAlreadyExists',
      `an export task '${request.exportTaskIdentifier}' already exists: export ids are never reused`,
    );
  }
  await manifestOrFault(deps, request);
  const task = newTask(request, {
    region: deps.region,
    bucket: deps.bucket,
    now: (deps.now ?? (() => new Date()))(),
  });
  await writeTask(deps.s3, deps.bucket, task);
  return task;
}

/**
 * The event's entry: starts the task if it is new and runs it. A redelivered event (the same request,
 * the task already past STARTING) returns the task as it stands; the same id with another request
 * is ExportTaskAlreadyExists.
 */
export async function handleExportRequest(deps: ExportDeps, raw: unknown): Promise<ExportTask> {
  const request = checkExportRequest(raw);
  const existing = await readTask(deps.s3, deps.bucket, request.exportTaskIdentifier);
  if (existing) {
    if (!sameRequest(existing, request, deps.bucket)) {
      throw new ExportFault(
        'ExportTaskAlreadyExists',
        `an export task '${request.exportTaskIdentifier}' already exists for another request`,
      );
    }
    if (existing.Status !== 'STARTING') return existing;
    return runExportTask(deps, existing);
  }
  return runExportTask(deps, await startExportTask(deps, request));
}

class Canceled extends Error {}

/** Runs a STARTING task to its end; resolves with the final record (COMPLETE, FAILED or CANCELED). */
export async function runExportTask(deps: ExportDeps, started: ExportTask): Promise<ExportTask> {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? (() => {});
  const task: ExportTask = { ...started, Status: 'IN_PROGRESS', TaskStartTime: now().toISOString() };
  const warnings: string[] = [];
  const tables: TableResult[] = [];
  const intervalMs = deps.checkpointIntervalMs ?? checkpointIntervalMsDefault;
  let lastCheckpoint = 0;
  let bytesWritten = 0;

  const save = async () => {
    task.UpdatedTime = now().toISOString();
    task.TotalExtractedDataInGB = Number((bytesWritten / 2 ** 30).toFixed(9));
    if (warnings.length > 0) {
      const text = warnings.join('; ');
      task.WarningMessage =
        text.length > warningMessageCharsMax ? `${text.slice(0, warningMessageCharsMax - 1)}…` : text;
    }
    await writeTask(deps.s3, deps.bucket, task);
    await deps.onProgress?.({ ...task });
  };
  /** Progress to the record and a look for a cancel, at most once per interval (or when forced). */
  const checkpoint = async (force = false) => {
    if (!force && performance.now() - lastCheckpoint < intervalMs) return;
    lastCheckpoint = performance.now();
    if (await cancelRequested(deps.s3, deps.bucket, task.ExportTaskIdentifier)) throw new Canceled();
    await save();
  };

  const dir = mkdtempSync(join(deps.tempDir ?? tmpdir(), `borealis-export-${task.ExportTaskIdentifier}-`));
  let db: SnapshotDatabase | undefined;
  try {
    await checkpoint(true);
    const manifest = await manifestOrFault(deps, {
      exportTaskIdentifier: task.ExportTaskIdentifier,
      cluster: task.Cluster,
      snapshotIdentifier: task.SnapshotIdentifier,
    });
    task.SnapshotTime = new Date(manifest.commitTimeMs).toISOString();
    task.SnapshotLsn = manifest.lsn;
    const dbPath = join(dir, 'snapshot.db');
    let stop = false;
    let stopError: unknown;
    // Checkpoints during the download run one after another, and all have ended before the next
    // step: a late progress write must never land after the final record.
    let checkpoints: Promise<void> = Promise.resolve();
    const downloaded = await writeDatabaseFile({
      s3: deps.s3,
      bucket: deps.bucket,
      cluster: task.Cluster,
      manifest,
      path: dbPath,
      stopped: () => stop,
      onProgress: (p) => {
        task.PercentProgress = Math.floor((downloadPercent * p.pagesWritten) / Math.max(1, p.pageCount));
        checkpoints = checkpoints
          .then(() => checkpoint())
          .catch((error) => {
            // A cancel (or a failing record write) stops the download; the outer catch reports it.
            stop = true;
            stopError ??= error;
          });
      },
    });
    await checkpoints;
    if (stopError) throw stopError;
    log('snapshot pages downloaded', { bytes: downloaded.bytesRead, requests: downloaded.requests });
    db = await SnapshotDatabase.open(dbPath);
    const database = databaseNameOf(task.Cluster);
    const { chosen: selected, skipped } = selectTables(
      await db.tables(),
      task.ExportOnly,
      database,
      warnings,
    );
    for (const { table, reason } of skipped) {
      tables.push({
        target: `${database}.${table.name}`,
        status: 'SKIPPED',
        rowCount: 0,
        sizeBytes: 0,
        parts: [],
        columns: [],
        extractionStartTime: null,
        extractionEndTime: null,
        warningMessage: `skipped: ${reason}`,
      });
    }

    // Pre-scan: each table's storage classes per column (its Parquet types) and its row count.
    const plans: Array<{ table: TableInfo; columns: ColumnMapping[]; rowCount: number }> = [];
    for (const table of selected) {
      const columns = await db.columns(table.name);
      // A table with no visible column still has rows: count them through a constant column.
      const selectList = columns.map((c) => quoteIdentifier(c.name)).join(', ') || 'null';
      const { rowCount, stats } = await db.columnStats(
        `select ${selectList} from ${quoteIdentifier(table.name)}`,
        Math.max(1, columns.length),
        columns.map((c) => needsIntegerRange(c.declaredType)),
      );
      const mappings = columns.map((c, i) => mapColumn(c.name, c.declaredType, stats[i]!));
      for (const m of mappings)
        if (m.fallbackReason) warnings.push(`${database}.${table.name}.${m.name}: ${m.fallbackReason}`);
      plans.push({ table, columns: mappings, rowCount });
    }
    const rowsTotal = plans.reduce((n, p) => n + p.rowCount, 0);
    log('tables pre-scanned', { tables: plans.length, rows: rowsTotal });
    let rowsDone = 0;
    task.PercentProgress = downloadPercent;
    await checkpoint(true);

    for (const plan of plans) {
      const target = `${database}.${plan.table.name}`;
      const folder = tableFolder(task.S3Prefix, task.ExportTaskIdentifier, database, plan.table.name);
      const result: TableResult = {
        target,
        status: 'FAILED',
        rowCount: 0,
        sizeBytes: 0,
        parts: [],
        columns: plan.columns,
        extractionStartTime: now().toISOString(),
        extractionEndTime: null,
      };
      tables.push(result);
      const parts = new TableParts({
        columns: plan.columns,
        pathOf: (index) => join(dir, `part-${index}.parquet`),
        partBytesTarget: deps.partBytesTarget,
        upload: async (part) => {
          const key = partKey(folder, part.index, randomUUID());
          if (part.bytes <= uploadPartBytes) {
            // One PUT with a known length (the SDK cannot size a stream for a single PUT).
            await deps.s3.send(
              new PutObjectCommand({ Bucket: task.S3Bucket, Key: key, Body: readFileSync(part.path) }),
            );
          } else {
            await new Upload({
              client: deps.s3,
              params: { Bucket: task.S3Bucket, Key: key, Body: createReadStream(part.path) },
              partSize: uploadPartBytes,
              queueSize: uploadsInFlight,
            }).done();
          }
          result.parts.push(key);
          result.sizeBytes += part.bytes;
          bytesWritten += part.bytes;
        },
      });
      try {
        const columnList = plan.columns.map((c) => quoteIdentifier(c.name)).join(', ');
        const sql = `select ${columnList || 'null'} from ${quoteIdentifier(plan.table.name)}`;
        for await (const rows of db.batches(sql, deps.rowGroupRows ?? rowGroupRowsMax, rowGroupBytesMax)) {
          await parts.write(rows);
          result.rowCount += rows.length;
          rowsDone += rows.length;
          task.PercentProgress = Math.min(
            99,
            downloadPercent + Math.floor(((100 - downloadPercent) * rowsDone) / Math.max(1, rowsTotal)),
          );
          await checkpoint();
        }
        await parts.finish();
      } catch (error) {
        parts.abort();
        if (error instanceof Canceled) result.status = 'CANCELED';
        throw error;
      }
      await putEmpty(deps.s3, task.S3Bucket, `${folder}/${successMarker}`);
      result.status = 'COMPLETE';
      result.extractionEndTime = now().toISOString();
      task.ExportedRowCount += result.rowCount;
      task.ExportedTableCount++;
      log('table exported', {
        target,
        rows: result.rowCount,
        bytes: result.sizeBytes,
        parts: result.parts.length,
      });
    }
    // A cancel that came during the last table still wins: nothing is reported COMPLETE after it.
    await checkpoint(true);
    task.Status = 'COMPLETE';
    task.PercentProgress = 100;
  } catch (error) {
    if (error instanceof Canceled) {
      task.Status = 'CANCELED';
    } else {
      task.Status = 'FAILED';
      task.FailureCause = (error as Error).message;
      log('export failed', { err: (error as Error).message });
    }
  } finally {
    await db?.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  task.TaskEndTime = now().toISOString();
  if (tables.length > 0 || task.Status === 'COMPLETE') {
    await putJson(
      deps.s3,
      task.S3Bucket,
      tablesInfoKey(task.S3Prefix, task.ExportTaskIdentifier, tables.length),
      tablesInfoDocument(tables),
    );
    await putJson(
      deps.s3,
      task.S3Bucket,
      exportInfoKey(task.S3Prefix, task.ExportTaskIdentifier),
      exportInfoDocument(task, tables),
    );
  }
  await save();
  return task;
}

/**
 * The tables to export: all of the main schema's, or those ExportOnly names (`table`,
 * `<database>.<table>`, or `<database>` for all). A name that is not in the snapshot fails the task;
 * a table that cannot be exported is skipped with a warning.
 */
export function selectTables(
  all: readonly TableInfo[],
  exportOnly: readonly string[],
  database: string,
  warnings: string[],
): { chosen: TableInfo[]; skipped: Array<{ table: TableInfo; reason: string }> } {
  let chosen: TableInfo[];
  if (exportOnly.length === 0 || exportOnly.includes(database)) {
    chosen = [...all];
  } else {
    const byName = new Map(all.map((t) => [t.name, t]));
    const missing: string[] = [];
    chosen = [];
    for (const raw of exportOnly) {
      const name = raw.startsWith(`${database}.`) ? raw.slice(database.length + 1) : raw;
      const table = byName.get(name);
      if (table) chosen.push(table);
      else missing.push(raw);
    }
    if (missing.length > 0) {
      throw new ExportFault(
        'InvalidParameterValue',
        `ExportOnly names ${missing.map((m) => `'${m}'`).join(', ')}, not a table of the snapshot (its tables: ${all.map((t) => t.name).join(', ') || 'none'})`,
      );
    }
  }
  const skipped: Array<{ table: TableInfo; reason: string }> = [];
  const exportable = chosen.filter((t) => {
    const why =
      t.type === 'virtual'
        ? 'a virtual table (its rows live in its shadow tables or nowhere)'
        : t.type === 'shadow'
          ? 'a shadow table of a virtual table'
          : t.type !== 'table'
            ? `of type ${t.type}`
            : unexportableNameReason(t.name);
    if (why === undefined) return true;
    // Shadow tables follow their virtual table silently unless asked for by name.
    if (t.type !== 'shadow' || exportOnly.length > 0) {
      warnings.push(`${database}.${t.name} skipped: ${why}`);
      skipped.push({ table: t, reason: why });
    }
    return false;
  });
  return { chosen: exportable, skipped };
}

/** An empty marker object (an empty string body reads to the SDK as a stream of unknown length). */
async function putEmpty(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: new Uint8Array(0), ContentLength: 0 }),
  );
}

async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: `${JSON.stringify(value, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}
