// CRC-32C (Castagnoli) guards every redo record and frame body, on the wire and on disk; it runs over
// every byte the writer ships, so it is the slice-by-8 table form, with no allocation per call.
import { assert } from './assert.ts';

/** Reflected Castagnoli polynomial. */
const polynomial = 0x82f63b78;

// Eight 256-entry tables; Int32Array keeps entries small-integer friendly for V8 (no heap numbers).
const table = new Int32Array(8 * 256);
for (let i = 0; i < 256; i++) {
  let crc = i;
  for (let bit = 0; bit < 8; bit++) {
    crc = crc & 1 ? (crc >>> 1) ^ polynomial : crc >>> 1;
  }
  table[i] = crc;
}
for (let i = 0; i < 256; i++) {
  let crc = table[i]!;
  for (let slice = 1; slice < 8; slice++) {
    crc = table[crc & 0xff]! ^ (crc >>> 8);
    table[slice * 256 + i] = crc;
  }
}

/**
 * CRC-32C of data[start, end), as an unsigned 32-bit number. Incremental: passing the CRC of a prefix
 * as seed continues it, so crc32c(b, m, n, crc32c(b, 0, m)) === crc32c(b, 0, n).
 */
export function crc32c(data: Uint8Array, start = 0, end: number = data.length, seed = 0): number {
  assert(
    Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= data.length,
    () => `crc32c range [${start}, ${end}) outside [0, ${data.length})`,
  );
  assert(seed >>> 0 === seed, 'crc32c seed must be an unsigned 32-bit integer');
  const t = table;
  let crc = ~seed;
  let i = start;
  const end8 = end - ((end - start) & 7);
  while (i < end8) {
    const low = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[1792 + (low & 0xff)]! ^
      t[1536 + ((low >>> 8) & 0xff)]! ^
      t[1280 + ((low >>> 16) & 0xff)]! ^
      t[1024 + (low >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < end) {
    crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}
