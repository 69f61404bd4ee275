// Every bound in Borealis, in one place: frames, records, batches, quorums, back-pressure. Constants that
// depend on each other are asserted together at load, so a bad edit fails at startup, not under load.
import { assert } from './assert.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

// --- Pages -------------------------------------------------------------------------------------------

/** SQLite's smallest page size; a volume never uses less. */
export const pageSizeBytesMin = 512;
/** The page size a new volume gets unless configured (SQLite's default). */
export const pageSizeBytesDefault = 4096;
/** SQLite's largest page size; also bounds a PageImage payload and a Page reply. */
export const pageSizeBytesMax = 65536;

// --- Frames (core/wire/frame.ts) ------------------------------------------------------------------------

/** Bytes of the frame header: length u32, version u8, type u8, flags u16, requestId u32, crc32c u32. */
export const frameHeaderBytes = 16;
/**
 * Largest frame on the wire, header included. Bounds the memory one peer can make another buffer for a
 * single message; large enough for a full gossip pull or a batch of page images.
 */
export const frameSizeBytesMax = 16 * MiB;
/** Largest frame body. */
export const frameBodyBytesMax = frameSizeBytesMax - frameHeaderBytes;
/**
 * Bytes a message body may spend besides its records: fixed fields, counts, truncation lists. Message
 * codecs assert their own envelopes fit; records get the rest of the frame.
 */
export const messageEnvelopeBytesMax = 1 * MiB;

// --- Redo records (core/record.ts) --------------------------------------------------------------------

/** Bytes of a record header before the payload. */
export const recordHeaderBytes = 40;
/** Bytes after the payload: the record's crc32c. */
export const recordTrailerBytes = 4;
/** Fixed cost of one record on the wire and on disk. */
export const recordOverheadBytes = recordHeaderBytes + recordTrailerBytes;
/**
 * Largest record payload. Page deltas and images are at most a page plus range headers; commit and row
 * image payloads above this are split by the writer across several records of one MTR.
 */
export const recordPayloadBytesMax = 1 * MiB;
/** Records in one Append: bounds per-batch bookkeeping (acks, LSN ranges) on both sides. */
export const recordsPerAppendMax = 65536;
/** PGs in a volume: bounds the per-PG tails a commit record carries. PG ids are u32 below pgIdAll. */
export const pgsPerVolumeMax = 65536;
/** PG id meaning "every PG on this node" (ReadPointFloor). Never a real PG. */
export const pgIdAll = 0xffff_ffff;

// --- Protection groups and quorums (core/quorum.ts) -----------------------------------------------------

/** Availability zones a PG spans. */
export const azCount = 3;
/** Segments of one PG per AZ: one full, one tail. */
export const segmentsPerAz = 2;
/** Segments per PG: six copies so that an AZ plus one node can fail without losing data. */
export const segmentsPerPg = 6;
/** Full segments (pages + log) per PG: one per AZ, so a page read survives losing any AZ. */
export const fullSegmentsPerPg = 3;
/** Tail segments (log only) per PG: they make the quorum, not the page reads, so they stay small. */
export const tailSegmentsPerPg = segmentsPerPg - fullSegmentsPerPg;
/** Acks that make a write durable: any 4 of 6 (or all 3 full, see quorum.ts). */
export const writeQuorum = 4;
/** Answers that make a recovery read safe: any 3 of 6 including a full segment. */
export const readQuorum = 3;

// --- Writer back-pressure ---------------------------------------------------------------------------

/**
 * LAL, in LSNs: the writer never allocates an LSN above VDL + LAL, so storage and recovery only ever
 * need to consider a bounded window above VDL. Aurora's value.
 */
export const lsnAllocationLimit = 10_000_000n;

/** Instances of one cluster, as on Aurora: a writer and up to 15 Aurora Replicas. */
export const instancesPerClusterMax = 16;

/**
 * Where a writer opened by a Global Database promotion starts allocating, above the highest LSN its
 * volume holds (ADR 016): the old primary may have allocated past what was replicated here — up to its
 * replication lag plus LAL — and when it rejoins as a secondary it voids that suffix and then takes
 * this writer's records, which must lie above it. 2^40 records of lag would be needed to collide; at
 * one gap per promotion, 2^53 (exact in a double, for metrics) holds 8,192 of them.
 */
export const globalPromotionLsnGap = 1n << 40n;

// --- Gossip and recovery ----------------------------------------------------------------------------

/** Bytes of records one GossipPull may return: bounds a peer's read burst while filling a gap. */
export const gossipBytesPerPullMax = 4 * MiB;
/** Records one GossipRecords may carry: as many of the smallest records as fit the byte bound. */
export const recordsPerGossipMax = Math.ceil(gossipBytesPerPullMax / recordOverheadBytes);
/** Truncation ranges one GossipRecords may carry (one per writer recovery or backtrack still retained). */
export const truncationsPerGossipMax = 4096;
/** Segments one storage node may host: bounds a RecoveryInfoReply. */
export const segmentsPerNodeMax = 65536;
/** Bytes of the UTF-8 message in an Error frame; longer messages are cut by the encoder. */
export const errorMessageBytesMax = 4 * KiB;

// --- Relationships ----------------------------------------------------------------------------------

assert(Number.isInteger(Math.log2(pageSizeBytesMin)), 'pageSizeBytesMin must be a power of two');
assert(Number.isInteger(Math.log2(pageSizeBytesMax)), 'pageSizeBytesMax must be a power of two');
assert(Number.isInteger(Math.log2(pageSizeBytesDefault)), 'pageSizeBytesDefault must be a power of two');
assert(
  pageSizeBytesMin <= pageSizeBytesDefault && pageSizeBytesDefault <= pageSizeBytesMax,
  'default page size within bounds',
);
assert(frameBodyBytesMax > 0, 'frame has room for a body');
assert(frameSizeBytesMax <= 0xffff_ffff, 'frame length fits its u32 field');
assert(messageEnvelopeBytesMax < frameBodyBytesMax, 'envelope leaves room for records');

assert(recordOverheadBytes === 44, 'record overhead matches the layout in record.ts');
// A page image or a full-page delta (count + one range header + the page) must fit one record.
assert(pageSizeBytesMax + 12 <= recordPayloadBytesMax, 'a whole-page delta fits one record');
assert(recordPayloadBytesMax <= 0xffff_ffff, 'payload length fits its u32 field');
// A gossip pull must always be able to make progress: the largest record fits one pull.
assert(recordOverheadBytes + recordPayloadBytesMax <= gossipBytesPerPullMax, 'largest record fits a pull');
assert(gossipBytesPerPullMax + messageEnvelopeBytesMax <= frameBodyBytesMax, 'a full pull fits a frame');
// An Append of the smallest records at the count limit still fits a frame.
assert(recordsPerAppendMax * recordOverheadBytes + messageEnvelopeBytesMax <= frameBodyBytesMax, 'append');
assert(recordsPerGossipMax * recordOverheadBytes + messageEnvelopeBytesMax <= frameBodyBytesMax, 'gossip');
assert(pgsPerVolumeMax < pgIdAll, 'pgIdAll is never a real PG');

assert(segmentsPerPg === azCount * segmentsPerAz, 'segments are spread evenly over AZs');
assert(fullSegmentsPerPg === azCount, 'one full segment per AZ');
assert(tailSegmentsPerPg === azCount, 'one tail segment per AZ');
// Any write quorum and any read quorum share a segment: recovery sees every durable write.
assert(writeQuorum + readQuorum > segmentsPerPg, 'write and read quorums intersect');
// Two write quorums share a segment: two writers cannot both make conflicting writes durable.
assert(2 * writeQuorum > segmentsPerPg, 'write quorums intersect');
// Losing a whole AZ keeps writes available; losing an AZ plus one node keeps reads available.
assert(segmentsPerPg - segmentsPerAz >= writeQuorum, 'writes survive an AZ');
assert(segmentsPerPg - segmentsPerAz - 1 >= readQuorum, 'reads survive an AZ plus a node');
// The all-full write quorum needs every full segment; a read quorum needs one: they intersect.
assert(fullSegmentsPerPg >= 1 && fullSegmentsPerPg <= segmentsPerPg, 'full segment count');
assert(lsnAllocationLimit > 0n, 'LAL is positive');
