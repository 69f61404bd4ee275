import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecords, RecordKind, type RedoRecord } from '../../../core/record.ts';
import { makeTempDir } from '../../../integration/harness/temp.ts';
import { LogFile, planReadSpans } from './log-file.ts';

function record(lsn: bigint, size = 100): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo: 1,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: lsn - 1n,
    kind: RecordKind.PageDelta,
    flags: 0,
    payload: Buffer.alloc(size, Number(lsn % 251n)),
  };
}

const dirs: { remove: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function tempLog(): string {
  const dir = makeTempDir('logfile');
  dirs.push(dir);
  return dir.path;
}

function reopen(dir: string) {
  const seen: RedoRecord[] = [];
  const { log, stats } = LogFile.open(dir, (r) => seen.push(r));
  return { log, stats, seen };
}

async function writeRecords(dir: string, count: number) {
  const { log } = reopen(dir);
  // Several appends in flight at once share fsyncs; each resolves with its own locations.
  const results = await Promise.all(
    Array.from({ length: count }, (_, i) => log.append([encodeRecords([record(BigInt(i + 1))])])),
  );
  log.close();
  return results.map((r) => r[0]!);
}

describe('planReadSpans', () => {
  it('reads nearby records of a file together, in any order asked, and keeps files and far records apart', () => {
    const at = (fileNo: number, offset: number, length = 100) => ({ fileNo, offset, length });
    const spans = planReadSpans([at(1, 500), at(1, 0), at(2, 0), at(1, 200), at(1, 10_000_000)]);
    expect(spans).toEqual([
      { fileNo: 1, offset: 0, length: 600, indexes: [1, 3, 0] },
      { fileNo: 1, offset: 10_000_000, length: 100, indexes: [4] },
      { fileNo: 2, offset: 0, length: 100, indexes: [2] },
    ]);
  });

  it('bounds a span, so one read never takes more than a few MiB', () => {
    const locations = Array.from({ length: 100 }, (_, i) => ({
      fileNo: 1,
      offset: i * 60_000,
      length: 50_000,
    }));
    const spans = planReadSpans(locations);
    expect(spans.length).toBeGreaterThan(1);
    for (const span of spans) expect(span.length).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(spans.flatMap((s) => s.indexes).sort((a, b) => a - b)).toEqual(locations.map((_, i) => i));
  });
});

describe('LogFile', () => {
  it('reads many records at once, each as read() would', async () => {
    const dir = tempLog();
    const locations = await writeRecords(dir, 300);
    const { log } = reopen(dir);
    const wanted = [locations[250]!, locations[3]!, locations[4]!, locations[120]!];
    expect(log.readMany(wanted)).toEqual(wanted.map((l) => log.read(l)));
    log.close();
  });

  it('recovers every record exactly after reopen', async () => {
    const dir = tempLog();
    const locations = await writeRecords(dir, 200);
    const { log, stats, seen } = reopen(dir);
    expect(stats).toMatchObject({ records: 200, tailCutBytes: 0 });
    expect(seen.map((r) => r.lsn)).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
    expect(Buffer.from(seen[57]!.payload)).toEqual(Buffer.from(record(58n).payload));
    // Locations handed out at append time read back the same bytes.
    expect(log.read(locations[57]!)).toEqual(encodeRecords([record(58n)]));
    log.close();
  });

  it('cuts a record torn by a short write, keeping everything before it', async () => {
    const dir = tempLog();
    await writeRecords(dir, 50);
    const file = join(dir, readdirSync(dir)[0]!);
    const size = statSync(file).size;
    truncateSync(file, size - 30);
    const { stats, seen, log } = reopen(dir);
    expect(seen).toHaveLength(49);
    expect(stats.tailCutBytes).toBe(144 - 30);
    expect(statSync(file).size).toBe(49 * 144);
    // The cut is durable and the log appends after it.
    await log.append([encodeRecords([record(50n)])]);
    log.close();
    expect(reopen(dir).seen).toHaveLength(50);
  });

  it('cuts at a corrupt record (bad CRC) and at garbage after the last record', async () => {
    const dir = tempLog();
    await writeRecords(dir, 20);
    const file = join(dir, readdirSync(dir)[0]!);
    const bytes = readFileSync(file);
    bytes[15 * 144 + 60] = bytes[15 * 144 + 60]! ^ 0xff; // inside record 16's payload
    writeFileSync(file, bytes);
    let { stats, seen, log } = reopen(dir);
    log.close();
    expect(seen).toHaveLength(15);
    expect(stats.tailCutReason).toMatch(/bad_crc/);

    appendFileSync(file, Buffer.from('not a record at all, just garbage bytes from a torn page write'));
    ({ stats, seen, log } = reopen(dir));
    log.close();
    expect(seen).toHaveLength(15);
    expect(stats.tailCutBytes).toBeGreaterThan(0);
  });

  it('rolls over to a new file and reads across files', async () => {
    const dir = tempLog();
    const { log } = reopen(dir);
    const big = (lsn: bigint) => record(lsn, 1024 * 1024 - 100);
    for (let i = 1n; i <= 70n; i++) await log.append([encodeRecords([big(i)])]);
    log.close();
    expect(readdirSync(dir).length).toBeGreaterThanOrEqual(2);
    const again = reopen(dir);
    again.log.close();
    expect(again.seen.map((r) => r.lsn)).toEqual(Array.from({ length: 70 }, (_, i) => BigInt(i + 1)));
  });
});
