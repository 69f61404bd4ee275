// Aurora's export layout and metadata documents, and the request checks (pure).
import { describe, expect, it } from 'vitest';
import {
  exportInfoDocument,
  exportInfoKey,
  partKey,
  type TableResult,
  tableFolder,
  tablesInfoDocument,
  tablesInfoKey,
  unexportableNameReason,
} from './metadata.ts';
import {
  checkCancellable,
  checkExportId,
  checkExportRequest,
  effectiveStatus,
  newTask,
  normalizePrefix,
} from './task.ts';

const table: TableResult = {
  target: 'db.orders',
  status: 'COMPLETE',
  rowCount: 3,
  sizeBytes: 2 ** 20,
  parts: ['p/x/db/db.orders/1/part-00000-u.gz.parquet'],
  columns: [
    { name: 'id', originalType: 'INTEGER', declaredParquetType: 'INT64', parquetType: 'INT64' },
    { name: 'name', originalType: 'VARCHAR(40)', declaredParquetType: 'STRING', parquetType: 'STRING' },
    { name: 'price', originalType: 'DECIMAL(10,2)', declaredParquetType: 'DOUBLE', parquetType: 'DOUBLE' },
    {
      name: 'x',
      originalType: '',
      declaredParquetType: 'ANY',
      parquetType: 'STRING',
      fallbackReason: 'untyped column holds mixed values',
    },
  ],
  extractionStartTime: '2026-01-01T00:00:00.000Z',
  extractionEndTime: '2026-01-01T00:00:01.000Z',
};

describe('layout', () => {
  it("is Aurora's: <prefix>/<export-id>/<database>/<database>.<table>/1/part-NNNNN-<uuid>.gz.parquet", () => {
    const folder = tableFolder('exports/daily', 'e1', 'db', 'orders');
    expect(folder).toBe('exports/daily/e1/db/db.orders/1');
    expect(partKey(folder, 12, 'abc')).toBe('exports/daily/e1/db/db.orders/1/part-00012-abc.gz.parquet');
    expect(tableFolder('', 'e1', 'db', 't')).toBe('e1/db/db.t/1');
    expect(exportInfoKey('p', 'e1')).toBe('p/e1/export_info_e1.json');
    expect(tablesInfoKey('p', 'e1', 4)).toBe('p/e1/export_tables_info_e1_from_1_to_4.json');
  });

  it('refuses table names that cannot be one folder', () => {
    expect(unexportableNameReason('orders')).toBeUndefined();
    expect(unexportableNameReason('spaced ü.x')).toBeUndefined();
    expect(unexportableNameReason('a/b')).toContain("'/'");
    expect(unexportableNameReason('a\nb')).toContain('control character');
  });
});

describe('metadata documents', () => {
  it('export_tables_info: per table target, status, size, row count and each column original → exported type', () => {
    const doc = tablesInfoDocument([table]);
    expect(doc.perTableStatus[0]).toEqual({
      tableStatistics: {
        extractionStartTime: '2026-01-01T00:00:00.000Z',
        extractionEndTime: '2026-01-01T00:00:01.000Z',
        partitioningInfo: { numberOfPartitions: 1, numberOfCompletedPartitions: 1 },
        rowCount: 3,
      },
      schemaMetadata: {
        originalTypeMappings: [
          expect.objectContaining({
            columnName: 'id',
            originalType: 'INTEGER',
            expectedExportedType: 'int64',
          }),
          expect.objectContaining({
            columnName: 'name',
            expectedExportedType: 'binary (UTF8)',
            originalCharMaxLength: 40,
          }),
          expect.objectContaining({
            columnName: 'price',
            expectedExportedType: 'double',
            originalNumPrecision: 10,
            originalNumScale: 2,
          }),
          expect.objectContaining({
            columnName: 'x',
            originalType: '(none)',
            warning: 'untyped column holds mixed values',
          }),
        ],
      },
      status: 'COMPLETE',
      sizeGB: 0.000976563,
      target: 'db.orders',
    });
  });

  it('export_info: the task under lower-camel names and each table', () => {
    const task = {
      ...newTask(
        checkExportRequest({ exportTaskIdentifier: 'e1', cluster: 'db', snapshotIdentifier: 's1' }),
        {
          region: 'us-east-1',
          bucket: 'b',
          now: new Date(0),
        },
      ),
      Status: 'COMPLETE' as const,
      PercentProgress: 100,
    };
    const doc = exportInfoDocument(task, [table]);
    expect(doc).toMatchObject({
      exportTaskIdentifier: 'e1',
      sourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster-snapshot:s1',
      s3Bucket: 'b',
      s3Prefix: 'exports',
      exportedFilesPath: 'exports/e1',
      status: 'COMPLETE',
      percentProgress: 100,
      perTableStatus: [{ target: 'db.orders', status: 'COMPLETE', rowCount: 3, sizeGB: 0.000976563 }],
    });
    expect(doc).not.toHaveProperty('failureCause');
  });
});

describe('requests and states', () => {
  it('checks export ids as Aurora does', () => {
    expect(checkExportId('daily-2026-01')).toBe('daily-2026-01');
    for (const bad of ['', '1abc', 'a--b', 'a-', 'a_b', 'x'.repeat(61), 42]) {
      expect(() => checkExportId(bad)).toThrow(/^InvalidParameterValue: export task identifier/);
    }
  });

  it("normalizes prefixes and refuses ':' and odd segments", () => {
    expect(normalizePrefix(undefined)).toBe('exports');
    expect(normalizePrefix('/a/b/')).toBe('a/b');
    expect(normalizePrefix('')).toBe('');
    expect(() => normalizePrefix('arn:aws:s3')).toThrow(
      "InvalidParameterValue: S3 prefix 'arn:aws:s3' contains ':'",
    );
    expect(() => normalizePrefix('a//b')).toThrow("has an empty, '.' or '..' segment");
    expect(() => normalizePrefix('a/../b')).toThrow("has an empty, '.' or '..' segment");
    expect(() => normalizePrefix('a\tb')).toThrow('control character');
  });

  it('refuses malformed requests', () => {
    const ok = { exportTaskIdentifier: 'e', cluster: 'c', snapshotIdentifier: 's' };
    expect(checkExportRequest(ok)).toEqual({ ...ok, s3Prefix: 'exports' });
    expect(() => checkExportRequest({ ...ok, cluster: '' })).toThrow('cluster is required');
    expect(() => checkExportRequest({ ...ok, snapshotIdentifier: '../x' })).toThrow('is not a snapshot id');
    expect(() => checkExportRequest({ ...ok, exportOnly: 'orders' })).toThrow('exportOnly must be a list');
    expect(() => checkExportRequest({ ...ok, s3Bucket: 'Bad_Bucket' })).toThrow('is not a bucket name');
  });

  it('allows a cancel only while the task runs, and shows CANCELING until the function ends it', () => {
    const task = newTask(
      checkExportRequest({ exportTaskIdentifier: 'e', cluster: 'c', snapshotIdentifier: 's' }),
      {
        region: 'r',
        bucket: 'b',
        now: new Date(0),
      },
    );
    expect(() => checkCancellable(task)).not.toThrow();
    expect(() => checkCancellable({ ...task, Status: 'IN_PROGRESS' })).not.toThrow();
    for (const Status of ['COMPLETE', 'FAILED', 'CANCELED'] as const) {
      expect(() => checkCancellable({ ...task, Status })).toThrow(/^InvalidExportTaskStateFault: /);
      expect(effectiveStatus({ ...task, Status }, true)).toBe(Status);
    }
    expect(effectiveStatus({ ...task, Status: 'IN_PROGRESS' }, true)).toBe('CANCELING');
    expect(effectiveStatus({ ...task, Status: 'IN_PROGRESS' }, false)).toBe('IN_PROGRESS');
  });
});
