// A snapshot manifest as S3 holds it, checked on read, and where each page image of it lives. Every
// reader of manifests (the snapshot function's catalog, retention, restore) parses through here, so
// a truncated or hand-edited manifest is refused in one place, with the key that holds it.
//
// Format 2 keeps page images in packs (core/backup/page-pack.ts): page i + 1 is slot pageSlots[i] of
// packs[pagePacks[i]], and pages[i] is its sha256 (checked when the image is read back). Format 1
// manifests (a page object per content hash) are still read: restores and retention handle both.
import { BorealisError, ErrorCode } from '../errors.ts';
import { type PackRef, type SnapshotManifest, snapshotFormatPacked } from './archive.ts';

const sha256HexPattern = /^[0-9a-f]{64}$/;

export function isPacked(manifest: SnapshotManifest): boolean {
  return manifest.format === snapshotFormatPacked;
}

/** Parses and checks a manifest's JSON; `key` names it in errors. */
export function parseSnapshotManifest(
  text: string,
  key: string,
  expectedSnapshotId?: string,
): SnapshotManifest {
  const bad = (why: string) =>
    new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `snapshot manifest ${key} is not a valid manifest: ${why}`,
      {
        context: { key },
        retryable: false,
      },
    );
  let m: SnapshotManifest;
  try {
    m = JSON.parse(text) as SnapshotManifest;
  } catch {
    throw bad('not JSON');
  }
  if (typeof m !== 'object' || m === null) throw bad('not an object');
  if (
    typeof m.snapshotId !== 'string' ||
    (expectedSnapshotId !== undefined && m.snapshotId !== expectedSnapshotId)
  )
    throw bad(`snapshotId ${String(m.snapshotId)} is not the one its key names`);
  if (typeof m.lsn !== 'string' || !/^\d{1,20}$/.test(m.lsn)) throw bad('lsn must be a decimal string');
  if (!Number.isSafeInteger(m.pageCount) || m.pageCount < 0) throw bad('pageCount');
  if (!Number.isSafeInteger(m.pageSizeBytes) || m.pageSizeBytes <= 0) throw bad('pageSizeBytes');
  if (!Array.isArray(m.pages) || m.pages.length !== m.pageCount)
    throw bad('pages must list pageCount hashes');
  if (m.format !== undefined && m.format !== snapshotFormatPacked) throw bad(`unknown format ${m.format}`);
  if (isPacked(m)) checkPackedLayout(m, bad);
  return m;
}

function checkPackedLayout(m: SnapshotManifest, bad: (why: string) => Error): void {
  const packs = m.packs;
  if (!Array.isArray(packs)) throw bad('packs is required in format 2');
  for (const p of packs) {
    if (typeof p?.id !== 'string' || !sha256HexPattern.test(p.id)) throw bad('a pack id is not a sha256');
    if (!Number.isSafeInteger(p.slots) || p.slots < 1) throw bad(`pack ${p.id} has no slots`);
  }
  const { pagePacks, pageSlots } = m;
  if (!Array.isArray(pagePacks) || !Array.isArray(pageSlots))
    throw bad('pagePacks and pageSlots are required');
  if (pagePacks.length !== m.pageCount || pageSlots.length !== m.pageCount)
    throw bad('pagePacks and pageSlots must have pageCount entries');
  for (let i = 0; i < m.pageCount; i++) {
    const pack = packs[pagePacks[i]!];
    const slot = pageSlots[i]!;
    if (!pack || !Number.isSafeInteger(slot) || slot < 0 || slot >= pack.slots)
      throw bad(`page ${i + 1} points outside its pack`);
    if (!sha256HexPattern.test(m.pages[i]!)) throw bad(`page ${i + 1} has no sha256`);
  }
}

/** Where one page image is in a packed snapshot. */
export interface PageLocation {
  packId: string;
  slot: number;
}

/** Page number → location for every page of a packed manifest. */
export function pageLocation(m: SnapshotManifest, pageNo: number): PageLocation {
  const i = pageNo - 1;
  const pack = m.packs![m.pagePacks![i]!]!;
  return { packId: pack.id, slot: m.pageSlots![i]! };
}

/** Content hash → a location holding it (the first page with that content): for sharing images. */
export function locationsByHash(m: SnapshotManifest): Map<string, PageLocation & { slots: number }> {
  const out = new Map<string, PageLocation & { slots: number }>();
  if (!isPacked(m)) return out;
  for (let i = 0; i < m.pageCount; i++) {
    const hash = m.pages[i]!;
    if (out.has(hash)) continue;
    const pack = m.packs![m.pagePacks![i]!]!;
    out.set(hash, { packId: pack.id, slot: m.pageSlots![i]!, slots: pack.slots });
  }
  return out;
}

/**
 * The manifest's pack list and per-page indexes from each page's location: packs in first-use
 * order, each listed once.
 */
export function packLayout(
  locations: readonly (PageLocation & { slots: number })[],
): Pick<SnapshotManifest, 'packs' | 'pagePacks' | 'pageSlots'> {
  const index = new Map<string, number>();
  const packs: PackRef[] = [];
  const pagePacks: number[] = [];
  const pageSlots: number[] = [];
  for (const l of locations) {
    let n = index.get(l.packId);
    if (n === undefined) {
      n = packs.length;
      index.set(l.packId, n);
      packs.push({ id: l.packId, slots: l.slots });
    }
    pagePacks.push(n);
    pageSlots.push(l.slot);
  }
  return { packs, pagePacks, pageSlots };
}

/** The pack ids a manifest uses (none for format 1). */
export function packIdsOf(m: SnapshotManifest): string[] {
  return isPacked(m) ? m.packs!.map((p) => p.id) : [];
}
