// Storage faults with real processes: a torn or corrupt log tail, a wiped data dir, bit rot found by
// the scrub, garbage and stale requests. Each is detected, answered or repaired, and changes nothing
// it should not.
import { closeSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { RecordKind, tryDecodeRecord } from '../../core/record.ts';
import { expectReply, StorageClient } from '../../core/wire/client.ts';
import { type DecodedFrame, type DecodedItem, encodeFrame, FrameDecoder } from '../../core/wire/frame.ts';
import { decodeMessage, encodeMessage, MessageType } from '../../core/wire/messages.ts';
import { LogShipper } from '../../services/writer/log-shipper.ts';
import { RedoWorkload } from '../harness/redo-workload.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const seed = Number(process.env.BOREALIS_TEST_SEED ?? Date.now() % 1_000_000);

describe('storage node faults', () => {
  const dir = makeTempDir('storage-faults');
  let cluster: StorageCluster;
  let workload: RedoWorkload;
  let shipper: LogShipper;

  async function write(batches: number): Promise<void> {
    const pending = [];
    for (let i = 0; i < batches; i++) pending.push(workload.ship(shipper).durable);
    await Promise.all(pending);
  }

  beforeAll(async () => {
    console.log(`storage-faults seed ${seed}`);
    cluster = await StorageCluster.start({
      dir: dir.path,
      pgCount: 3,
      pagesPerPg: 16,
      nodeArgs: [
        '--gossip-interval-ms',
        '100',
        '--scrub-interval-ms',
        '200',
        '--gc-interval-ms',
        '200',
        '--retention-ms',
        '0',
      ],
    });
    workload = new RedoWorkload(cluster.volume, seed);
    shipper = new LogShipper({ volume: cluster.volume, epoch: 1n, clients: cluster.clients(), nextLsn: 1n });
    await write(300);
  });
  afterAll(async () => {
    shipper?.close();
    await cluster?.stopAll();
    dir.remove();
  });

  it('cuts a torn log tail on restart, reports the SCL of what survived, then refills from peers', async () => {
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    const before = await cluster.sclOf('n1');
    await cluster.kill('n1');
    const logDir = join(cluster.dataDir('n1'), 'log');
    const file = join(logDir, readdirSync(logDir).sort().pop()!);
    // Tear the last record in half, as a crash in the middle of a write would.
    truncateSync(file, statSync(file).size - 50);
    // What survives, by the codec's own reading: the SCL each PG must report.
    const bytes = readFileSync(file);
    const survived = new Map<number, Lsn>();
    for (let offset = 0; ; ) {
      const r = tryDecodeRecord(bytes, offset);
      if (!r.ok) break;
      if (r.record.kind !== RecordKind.Epoch && r.record.lsn > (survived.get(r.record.pg) ?? 0n)) {
        survived.set(r.record.pg, r.record.lsn);
      }
      offset += r.length;
    }
    const restarted = await cluster.start('n1');
    expect(restarted.ready.tailCutBytes).toBeGreaterThan(0);
    const after = await cluster.sclOf('n1');
    let lost = 0;
    for (const [pg, scl] of after) {
      expect(scl).toBe(survived.get(pg) ?? 0n);
      if (scl < before.get(pg)!) lost++;
    }
    expect(lost).toBeGreaterThan(0);
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    expect(await cluster.sclOf('n1')).toEqual(before);
    expect(await cluster.metric('n1', 'borealis_storage_gossip_fills_total')).toBeGreaterThan(0);
  });

  it('cuts a corrupt tail (garbage over the last records) the same way', async () => {
    await write(50);
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    const before = await cluster.sclOf('n2');
    await cluster.kill('n2');
    const logDir = join(cluster.dataDir('n2'), 'log');
    const file = join(logDir, readdirSync(logDir).sort().pop()!);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(300, 0xab), 0, 300, statSync(file).size - 300);
    closeSync(fd);
    const restarted = await cluster.start('n2');
    expect(restarted.ready.tailCutBytes).toBeGreaterThan(0);
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    expect(await cluster.sclOf('n2')).toEqual(before);
  });

  it('rebuilds a wiped node from its peers and serves the same pages', async () => {
    await cluster.stop('n4');
    cluster.wipe('n4');
    await write(100); // the volume keeps writing with five nodes
    await cluster.start('n4');
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    const health = await cluster.health('n4');
    expect(health.acceptsAppends).toBe(true);
    // n4 takes appends again: a fresh batch reaches it directly.
    await write(10);
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    for (const placement of cluster.volume.placement) {
      const full = placement.segments.find((s) => s.nodeId === 'n4' && s.kind === 'full');
      if (!full) continue;
      const readPoint = workload.lastLsnByPg().get(placement.pg)!;
      for (const pageNo of workload.writtenPages()) {
        if (Math.floor((pageNo - 1) / cluster.volume.pagesPerPg) !== placement.pg) continue;
        const page = expectReply(
          await cluster.client('n4').request({ type: 'getPage', pg: placement.pg, pageNo, readPoint }),
          'page',
        );
        expect(Buffer.from(page.page).equals(Buffer.from(workload.pageAt(pageNo, readPoint)!.bytes))).toBe(
          true,
        );
      }
    }
  });

  it('scrub finds a record rotted on disk and repairs it from a peer', async () => {
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    const logDir = join(cluster.dataDir('n5'), 'log');
    const file = join(logDir, readdirSync(logDir).sort()[0]!);
    const bytes = readFileSync(file);
    // Find a page record well inside the file and flip bytes in its payload under the running node.
    let target: { offset: number; lsn: Lsn; pg: number } | undefined;
    for (let offset = 0, n = 0; ; n++) {
      const r = tryDecodeRecord(bytes, offset);
      if (!r.ok) break;
      if (n > 20 && r.record.kind === RecordKind.PageDelta) {
        target = { offset, lsn: r.record.lsn, pg: r.record.pg };
        break;
      }
      offset += r.length;
    }
    expect(target).toBeDefined();
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, target!.offset + 44);
    closeSync(fd);
    await eventually(
      async () => (await cluster.metric('n5', 'borealis_storage_scrub_repairs_total')) >= 1,
      20_000,
      'scrub repair',
    );
    const reply = expectReply(
      await cluster.client('n5').request({
        type: 'gossipPull',
        epoch: 0n,
        pg: target!.pg,
        afterLsn: target!.lsn - 1n,
        uptoLsn: target!.lsn,
        maxBytes: 1 << 20,
      }),
      'gossipRecords',
    );
    expect(reply.records).toHaveLength(1);
    expect(
      Buffer.from(reply.records[0]!.payload).equals(Buffer.from(workload.shipped.get(target!.lsn)!.payload)),
    ).toBe(true);
  });

  it('collects page versions below the lowest read point in use, and still serves that read point', async () => {
    await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
    const fullOfPg0 = cluster.volume.placement[0]!.segments.find((s) => s.kind === 'full')!.nodeId;
    await eventually(
      async () => (await cluster.metric(fullOfPg0, 'borealis_storage_page_versions_retained')) > 0,
      10_000,
      'coalesced',
    );
    const retained = await cluster.metric(fullOfPg0, 'borealis_storage_page_versions_retained');
    const floor = workload.lastLsnByPg().get(0)!;
    expectReply(
      await cluster.client(fullOfPg0).request({ type: 'readPointFloor', pg: 0xffff_ffff, lsn: floor }),
      'readPointFloorAck',
    );
    await eventually(
      async () => (await cluster.metric(fullOfPg0, 'borealis_storage_page_versions_collected_total')) > 0,
      10_000,
      'gc',
    );
    expect(await cluster.metric(fullOfPg0, 'borealis_storage_page_versions_retained')).toBeLessThan(retained);
    for (const pageNo of workload.writtenPages().filter((p) => p <= cluster.volume.pagesPerPg)) {
      const page = expectReply(
        await cluster.client(fullOfPg0).request({ type: 'getPage', pg: 0, pageNo, readPoint: floor }),
        'page',
      );
      expect(Buffer.from(page.page).equals(Buffer.from(workload.pageAt(pageNo, floor)!.bytes))).toBe(true);
    }
  });

  describe('bad input gets its error, changes nothing, and the node keeps serving', () => {
    const node = 'n6';
    let raw: StorageClient;

    beforeAll(() => {
      const address = cluster.node(node);
      raw = new StorageClient({ host: address.host, port: address.port, name: 'raw' });
    });
    afterAll(() => raw.close());

    async function unchanged(run: () => Promise<unknown>, code: string): Promise<void> {
      await cluster.allCaughtUp(workload.lastLsnByPg(), 30_000);
      const scl = await cluster.sclOf(node);
      const appended = await cluster.metric(node, 'borealis_storage_records_appended_total');
      await expect(run()).rejects.toMatchObject({ code });
      expect(await cluster.sclOf(node)).toEqual(scl);
      expect(await cluster.metric(node, 'borealis_storage_records_appended_total')).toBe(appended);
      expect(expectReply(await raw.request({ type: 'ping' }), 'pong')).toEqual({ type: 'pong' });
      expect(cluster.isRunning(node)).toBe(true);
    }

    function nextRecords() {
      const lsn = shipper.nextLsn + 1_000_000n;
      return workload.nextBatch().map((r, i) => ({
        ...r,
        pg: r.pg ?? Math.floor((r.pageNo - 1) / cluster.volume.pagesPerPg),
        lsn: lsn + BigInt(i),
        prevLsnInPg: 0n,
        prevLsnOfPage: 0n,
      }));
    }

    it('a stale epoch', async () => {
      // A newer writer takes over the volume; the old epoch's append is refused.
      await cluster.client(node).request({ type: 'recoveryInfo', epoch: 2n });
      await unchanged(
        () => raw.request({ type: 'append', epoch: 1n, records: nextRecords() }),
        ErrorCode.STALE_EPOCH,
      );
    });

    it('a record that contradicts the segment chain', async () => {
      const records = nextRecords().map((r) => ({ ...r, prevLsnInPg: 1n }));
      await unchanged(() => raw.request({ type: 'append', epoch: 2n, records }), ErrorCode.INVALID_ARGUMENT);
    });

    it('a record for a PG this node does not hold', async () => {
      const records = nextRecords().map((r) => ({ ...r, pg: 99 }));
      await unchanged(() => raw.request({ type: 'append', epoch: 2n, records }), ErrorCode.UNKNOWN_PG);
    });

    it('a malformed frame body', async () => {
      await unchanged(
        () => raw.requestRaw(MessageType.Append, Buffer.from('definitely not an append')),
        ErrorCode.MALFORMED_FRAME,
      );
    });

    it('a frame with a bad CRC', async () => {
      const { type, body } = encodeMessage({ type: 'append', epoch: 2n, records: nextRecords() });
      await unchanged(
        () =>
          raw.requestRaw(type, body, 5_000, (frame) => {
            frame[frame.length - 1] = frame[frame.length - 1]! ^ 0xff;
            return frame;
          }),
        ErrorCode.BAD_CRC,
      );
    });

    it('an oversized frame, skipped in full so the connection stays usable', async () => {
      await unchanged(async () => {
        const socket = connect(cluster.node(node).port, '127.0.0.1');
        const decoder = new FrameDecoder();
        const replies: DecodedItem[] = [];
        socket.on('data', (d: Buffer) => replies.push(...decoder.push(d)));
        await new Promise<void>((r) => socket.once('connect', () => r()));
        // The encoder refuses to build such a frame, so the header is written by hand.
        const body = Buffer.alloc(17 * 1024 * 1024);
        const header = Buffer.alloc(16);
        header.writeUInt32LE(12 + body.length, 0);
        header[4] = 1;
        header[5] = MessageType.Append;
        header.writeUInt32LE(7, 8);
        socket.write(header);
        socket.write(body);
        socket.write(encodeFrame(MessageType.Ping, 8, Buffer.alloc(0)));
        await eventually(() => replies.length >= 2, 10_000, 'two replies');
        socket.destroy();
        // First the error for request 7, then the pong for request 8 on the same connection.
        const [error, pong] = replies as DecodedFrame[];
        expect([error!.requestId, error!.type, pong!.requestId, pong!.type]).toEqual([
          7,
          MessageType.Error,
          8,
          MessageType.Pong,
        ]);
        throw decodeMessage(error!.type, error!.body) as unknown as Error;
      }, ErrorCode.FRAME_TOO_LARGE);
    });

    it('a page read above SCL, on a tail segment, outside the PG', async () => {
      const full = cluster.volume.placement.find((p) =>
        p.segments.some((s) => s.nodeId === node && s.kind === 'full'),
      )!;
      const tail = cluster.volume.placement.find((p) =>
        p.segments.some((s) => s.nodeId === node && s.kind === 'tail'),
      )!;
      const firstPage = full.pg * cluster.volume.pagesPerPg + 1;
      await unchanged(
        () =>
          raw.request({ type: 'getPage', pg: full.pg, pageNo: firstPage, readPoint: shipper.nextLsn + 10n }),
        ErrorCode.NOT_COMPLETE,
      );
      await unchanged(
        () =>
          raw.request({
            type: 'getPage',
            pg: tail.pg,
            pageNo: tail.pg * cluster.volume.pagesPerPg + 1,
            readPoint: 1n,
          }),
        ErrorCode.NOT_FULL_SEGMENT,
      );
      await unchanged(
        () =>
          raw.request({
            type: 'getPage',
            pg: full.pg,
            pageNo: firstPage + cluster.volume.pagesPerPg,
            readPoint: 1n,
          }),
        ErrorCode.INVALID_ARGUMENT,
      );
    });
  });
});
