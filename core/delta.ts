// Page deltas: the writer turns each dirty page into the byte ranges that changed since its previous
// version, so the redo log carries changes, never whole pages; storage and readers apply them.
//
// Format (little-endian): rangeCount u32 | rangeCount × (offset u32 | length u32 | length bytes).
// Ranges ascend and never overlap or touch; each has length >= 1.
import { assert } from './assert.ts';
import { BorealisError, ErrorCode } from './errors.ts';
import { pageSizeBytesMax } from './limits.ts';

const deltaCountBytes = 4;
const deltaRangeHeaderBytes = 8;
/**
 * Unchanged bytes that end a range. A run shorter than this costs less to ship inside the range than
 * the header of a new range would, so it is merged.
 */
const deltaMergeGapBytes = deltaRangeHeaderBytes;

// A page that was never written reads as zeros; one shared zero page avoids a branch per byte.
const zeroPage = new Uint8Array(pageSizeBytesMax);

// Range boundaries of the current computeDelta (start, end pairs). A page of n bytes has at most
// ceil(n / (deltaMergeGapBytes + 1)) ranges; reused across calls so the only allocation is the output.
const scratchRanges = new Int32Array(2 * (Math.ceil(pageSizeBytesMax / (deltaMergeGapBytes + 1)) + 1));

/**
 * The delta that turns oldPage into newPage (oldPage undefined: the page was never written, i.e. zeros).
 * Identical pages give a delta with zero ranges.
 */
export function computeDelta(oldPage: Uint8Array | undefined, newPage: Uint8Array): Uint8Array {
  const length = newPage.length;
  assert(length <= pageSizeBytesMax, () => `page of ${length} bytes exceeds ${pageSizeBytesMax}`);
  const base = oldPage ?? zeroPage;
  assert(
    oldPage === undefined || oldPage.length === length,
    () => `page sizes differ: old ${oldPage?.length} new ${length}`,
  );

  const ranges = scratchRanges;
  let rangeCount = 0;
  let changedBytes = 0;
  let i = 0;
  while (i < length) {
    if (base[i] === newPage[i]) {
      i++;
      continue;
    }
    const start = i;
    let end = i + 1; // one past the last changed byte seen
    let j = i + 1;
    while (j < length) {
      if (base[j] !== newPage[j]) {
        end = j + 1;
      } else if (j + 1 - end >= deltaMergeGapBytes) {
        break;
      }
      j++;
    }
    ranges[2 * rangeCount] = start;
    ranges[2 * rangeCount + 1] = end;
    rangeCount++;
    changedBytes += end - start;
    i = j;
  }
  assert(2 * rangeCount <= ranges.length, 'delta range scratch overflow');

  const out = new Uint8Array(deltaCountBytes + rangeCount * deltaRangeHeaderBytes + changedBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, rangeCount, true);
  let offset = deltaCountBytes;
  for (let r = 0; r < rangeCount; r++) {
    const start = ranges[2 * r]!;
    const end = ranges[2 * r + 1]!;
    view.setUint32(offset, start, true);
    view.setUint32(offset + 4, end - start, true);
    out.set(newPage.subarray(start, end), offset + deltaRangeHeaderBytes);
    offset += deltaRangeHeaderBytes + end - start;
  }
  assert(offset === out.length, 'computeDelta wrote what it measured');
  return out;
}

function malformedDelta(detail: string, context: Record<string, unknown>): BorealisError {
  return new BorealisError(ErrorCode.MALFORMED_FRAME, `bad page delta: ${detail}`, { context });
}

/**
 * A new page: base with the delta applied. base is never mutated (it may be a cached version another
 * reader still sees). Throws MALFORMED_FRAME if the delta does not parse or a range falls outside base.
 */
export function applyDelta(base: Uint8Array, delta: Uint8Array): Uint8Array {
  if (delta.length < deltaCountBytes) throw malformedDelta('truncated count', { deltaBytes: delta.length });
  const view = new DataView(delta.buffer, delta.byteOffset, delta.byteLength);
  const rangeCount = view.getUint32(0, true);
  if (rangeCount > (delta.length - deltaCountBytes) / (deltaRangeHeaderBytes + 1)) {
    throw malformedDelta(`${rangeCount} ranges cannot fit ${delta.length} bytes`, { rangeCount });
  }
  const page = new Uint8Array(base);
  let offset = deltaCountBytes;
  let endBefore = -1; // ranges ascend and never touch, as computeDelta writes them
  for (let r = 0; r < rangeCount; r++) {
    if (offset + deltaRangeHeaderBytes > delta.length) {
      throw malformedDelta('truncated range header', { range: r, offset });
    }
    const start = view.getUint32(offset, true);
    const rangeLength = view.getUint32(offset + 4, true);
    const dataOffset = offset + deltaRangeHeaderBytes;
    if (rangeLength === 0 || start <= endBefore) {
      throw malformedDelta('ranges must be non-empty and ascending', { range: r, start, rangeLength });
    }
    if (start + rangeLength > page.length) {
      throw malformedDelta(`range [${start}, ${start + rangeLength}) outside a ${page.length}-byte page`, {
        range: r,
        start,
        rangeLength,
        pageBytes: page.length,
      });
    }
    if (dataOffset + rangeLength > delta.length) {
      throw malformedDelta('truncated range bytes', { range: r, offset, rangeLength });
    }
    page.set(delta.subarray(dataOffset, dataOffset + rangeLength), start);
    offset = dataOffset + rangeLength;
    endBefore = start + rangeLength;
  }
  if (offset !== delta.length) {
    throw malformedDelta(`${delta.length - offset} trailing bytes`, { offset, deltaBytes: delta.length });
  }
  return page;
}

/** Number of changed ranges in a delta. */
export function deltaRangeCount(delta: Uint8Array): number {
  if (delta.length < deltaCountBytes) throw malformedDelta('truncated count', { deltaBytes: delta.length });
  return new DataView(delta.buffer, delta.byteOffset, delta.byteLength).getUint32(0, true);
}

/** True when the delta changes nothing: the writer need not ship a record for the page. */
export function deltaIsEmpty(delta: Uint8Array): boolean {
  return deltaRangeCount(delta) === 0;
}
