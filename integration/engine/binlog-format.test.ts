// The writer's --binlog-format end to end, on real processes: with ROW every committed row change is
// captured and shipped (the writer's binlog metrics count them, /health names the setting) and a
// reader following the redo stream — RowImages records included — serves the same rows; the same
// volume reopened with OFF captures nothing more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

/** A counter's value in Prometheus text (0 when absent). */
function counter(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function writerState(writer: InstanceInfo): Promise<{ format: string; rows: number; bytes: number }> {
  const base = `http://127.0.0.1:${writer.httpPort}`;
  const health = (await fetch(`${base}/health`).then((r) => r.json())) as { binlogFormat: string };
  const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
  return {
    format: health.binlogFormat,
    rows: counter(metrics, 'borealis_binlog_row_events_total'),
    bytes: counter(metrics, 'borealis_binlog_bytes_total'),
  };
}

describe('writer --binlog-format', () => {
  const dir = makeTempDir('binlog-format');
  let cluster: StorageCluster;
  let writer: InstanceInfo | undefined;
  let reader: InstanceInfo | undefined;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 2, pagesPerPg: 256 });
  });
  afterAll(async () => {
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('ROW ships every row change (a reader follows), OFF none', async () => {
    writer = await startWriter(cluster, { args: ['--binlog-format', 'ROW'] });
    let sql = new Sql(writer);
    await sql.exec('create table t (id integer primary key, v text)');
    await sql.exec("insert into t values (1, 'a'), (2, 'b'), (3, 'c')");
    await sql.exec("update t set v = 'bb' where id = 2");
    await sql.exec('delete from t where id = 3');
    const row = await writerState(writer);
    expect(row.format).toBe('ROW');
    expect(row.rows).toBe(5);
    expect(row.bytes).toBeGreaterThan(0);

    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    const r = new Sql(reader);
    await sql.exec("insert into t values (4, 'd')");
    await eventually(async () => (await r.rows('select count(*) from t'))[0]?.[0] === 3, 15_000, 'reader');
    expect(await r.rows('select id, v from t order by id')).toEqual([
      [1, 'a'],
      [2, 'bb'],
      [4, 'd'],
    ]);
    r.close();
    await reader.process.stop();
    reader = undefined;
    sql.close();

    await writer.process.stop();
    writer = await startWriter(cluster, { id: 'writer-2', args: ['--binlog-format', 'OFF'] });
    sql = new Sql(writer);
    await sql.exec("insert into t values (5, 'e')");
    const off = await writerState(writer);
    expect(off).toEqual({ format: 'OFF', rows: 0, bytes: 0 });
    expect(await sql.rows('select count(*) from t')).toEqual([[4]]);
    sql.close();
  }, 120_000);
});
