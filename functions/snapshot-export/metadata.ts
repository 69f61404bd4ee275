// Aurora's export layout and metadata documents (pure), so that tools that read Aurora exports read
// these: `<prefix>/<export-id>/<database>/<database>.<table>/1/part-NNNNN-<uuid>.gz.parquet` with a
// `_SUCCESS` marker beside a table's parts once they are all written, `export_info_<id>.json` (the task
// and each table's status) and `export_tables_info_<id>_from_1_to_N.json` (per table: target, status,
// size, row count, and each column's original type and exported Parquet type).
import type { ExportStatus, ExportTask } from './task.ts';
import type { ColumnMapping, ParquetType } from './type-mapping.ts';

/** One folder per table; `1` is Aurora's single partition of a table exported whole. */
export const partitionFolder = '1';
export const successMarker = '_SUCCESS';

export function exportRoot(prefix: string, exportId: string): string {
  return prefix === '' ? exportId : `${prefix}/${exportId}`;
}

export function tableFolder(prefix: string, exportId: string, database: string, table: string): string {
  return `${exportRoot(prefix, exportId)}/${database}/${database}.${table}/${partitionFolder}`;
}

export function partKey(folder: string, part: number, uuid: string): string {
  return `${folder}/part-${String(part).padStart(5, '0')}-${uuid}.gz.parquet`;
}

export function exportInfoKey(prefix: string, exportId: string): string {
  return `${exportRoot(prefix, exportId)}/export_info_${exportId}.json`;
}

export function tablesInfoKey(prefix: string, exportId: string, tableCount: number): string {
  return `${exportRoot(prefix, exportId)}/export_tables_info_${exportId}_from_1_to_${tableCount}.json`;
}

/**
 * Why a table name cannot be a folder of the layout (undefined: it can). A '/' would split it into
 * two folders; control characters are not safe in S3 keys and most tools.
 */
export function unexportableNameReason(table: string): string | undefined {
  if (table.includes('/')) return "its name contains '/', which would split its S3 folder";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f\u007f]/.test(table)) return 'its name contains a control character';
  if (Buffer.byteLength(table) > 512) return 'its name is longer than 512 bytes';
  return undefined;
}

/** Aurora's names for the exported types in originalTypeMappings. */
export const exportedTypeNames: Readonly<Record<ParquetType, string>> = {
  INT64: 'int64',
  DOUBLE: 'double',
  STRING: 'binary (UTF8)',
  BYTE_ARRAY: 'binary',
  BOOLEAN: 'boolean',
};

export type TableStatus = 'COMPLETE' | 'FAILED' | 'SKIPPED' | 'CANCELED';

/** What the export learned about one table. */
export interface TableResult {
  /** `<database>.<table>` */
  target: string;
  status: TableStatus;
  rowCount: number;
  sizeBytes: number;
  parts: string[];
  columns: ColumnMapping[];
  extractionStartTime: string | null;
  extractionEndTime: string | null;
  warningMessage?: string;
}

const gb = (bytes: number) => Number((bytes / 2 ** 30).toFixed(9));

/** `(n)` of VARCHAR(n) / `(p[, s])` of DECIMAL(p, s): Aurora reports them per column. */
function typeArguments(declared: string): number[] {
  const m = /\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/.exec(declared);
  return m ? [Number(m[1]), ...(m[2] === undefined ? [] : [Number(m[2])])] : [];
}

export function originalTypeMapping(c: ColumnMapping) {
  const args = typeArguments(c.originalType);
  const upper = c.originalType.toUpperCase();
  const isChar = upper.includes('CHAR') || upper.includes('CLOB') || upper.includes('TEXT');
  const isNumeric = upper.includes('DEC') || upper.includes('NUMERIC');
  return {
    columnName: c.name,
    originalType: c.originalType === '' ? '(none)' : c.originalType,
    expectedExportedType: exportedTypeNames[c.parquetType],
    originalCharMaxLength: isChar ? (args[0] ?? 0) : 0,
    originalNumPrecision: isNumeric ? (args[0] ?? 0) : 0,
    originalNumScale: isNumeric ? (args[1] ?? 0) : 0,
    originalDateTimePrecision: 0,
    ...(c.fallbackReason === undefined ? {} : { warning: c.fallbackReason }),
  };
}

export function tableStatusEntry(t: TableResult) {
  return {
    tableStatistics: {
      extractionStartTime: t.extractionStartTime,
      extractionEndTime: t.extractionEndTime,
      partitioningInfo: {
        numberOfPartitions: t.parts.length,
        numberOfCompletedPartitions: t.status === 'COMPLETE' ? t.parts.length : 0,
      },
      rowCount: t.rowCount,
    },
    schemaMetadata: { originalTypeMappings: t.columns.map(originalTypeMapping) },
    status: t.status,
    sizeGB: gb(t.sizeBytes),
    target: t.target,
    ...(t.warningMessage === undefined ? {} : { warningMessage: t.warningMessage }),
  };
}

/** export_tables_info_<id>_from_1_to_N.json */
export function tablesInfoDocument(tables: readonly TableResult[]) {
  return { perTableStatus: tables.map(tableStatusEntry) };
}

/** export_info_<id>.json: the task under Aurora's lower-camel names, and each table's outcome. */
export function exportInfoDocument(task: ExportTask, tables: readonly TableResult[]) {
  return {
    exportTaskIdentifier: task.ExportTaskIdentifier,
    sourceArn: task.SourceArn,
    exportOnly: task.ExportOnly,
    snapshotTime: task.SnapshotTime,
    taskStartTime: task.TaskStartTime,
    taskEndTime: task.TaskEndTime,
    s3Bucket: task.S3Bucket,
    s3Prefix: task.S3Prefix,
    exportedFilesPath: exportRoot(task.S3Prefix, task.ExportTaskIdentifier),
    iamRoleArn: task.IamRoleArn,
    kmsKeyId: task.KmsKeyId,
    status: task.Status satisfies ExportStatus,
    percentProgress: task.PercentProgress,
    totalExportedDataInGB: task.TotalExtractedDataInGB,
    ...(task.FailureCause === undefined ? {} : { failureCause: task.FailureCause }),
    ...(task.WarningMessage === undefined ? {} : { warningMessage: task.WarningMessage }),
    perTableStatus: tables.map((t) => ({
      target: t.target,
      status: t.status,
      sizeGB: gb(t.sizeBytes),
      rowCount: t.rowCount,
      ...(t.warningMessage === undefined ? {} : { warningMessage: t.warningMessage }),
    })),
  };
}
