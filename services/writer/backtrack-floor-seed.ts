// The writer's backtrack floor from storage's history (ADR 015; the pure part and why it is safe:
// core/backtrack/floor-seed.ts). At open the writer has noted no VDL a whole window old, so without
// this it sends 0 for a window after every failover and storage keeps everything. It reads the
// volume's marker list, asks every storage node for its newest commit on the timeline as it was at
// open − window with commit time at or before it (POST /admin/backtrack/target, the search a backtrack
// runs), and needs a read quorum of every PG to answer; anything less and the floor stays 0.
import { floorSeedQuery, seededBacktrackFloor, targetFromAnswers } from '../../core/backtrack/floor-seed.ts';
import { timelineToJson } from '../../core/backtrack/json.ts';
import type { BacktrackMarker } from '../../core/backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { answersMakeReadQuorums, readVolumeMarkers } from './backtrack-markers.ts';

const requestTimeoutMs = 3_000;

/**
 * The seed for `cutoffMs` (= open − window), or a thrown error saying why storage could not give it.
 * `markers`: the volume's list if the writer has read it already (for its redo publisher).
 */
export async function backtrackFloorSeed(
  volume: VolumeConfig,
  cutoffMs: number,
  vdl: Lsn,
  known?: BacktrackMarker[],
): Promise<{ floor: Lsn; targetLsn: Lsn; markers: number }> {
  const markers = known ?? (await readVolumeMarkers(volume));
  const query = floorSeedQuery(markers, cutoffMs);
  const body = JSON.stringify({ timeline: timelineToJson(query.timeline), timeMs: query.timeMs });
  const answers = await Promise.all(
    volume.nodes.map(async (n) => {
      try {
        const response = await fetch(`http://${n.host}:${n.httpPort}/admin/backtrack/target`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        if (!response.ok) return undefined;
        const answer = (await response.json()) as { segments: { lsn: string }[] };
        return { node: n.id, lsns: answer.segments.map((s) => BigInt(s.lsn)) };
      } catch {
        return undefined;
      }
    }),
  );
  const got = answers.filter((a) => a !== undefined);
  if (!answersMakeReadQuorums(volume, new Set(got.map((a) => a.node)))) {
    throw new BorealisError(
      ErrorCode.UNAVAILABLE,
      `backtrack floor seed: ${got.length} of ${volume.nodes.length} storage nodes answered the target search, not a read quorum of every PG`,
    );
  }
  const targetLsn = targetFromAnswers(
    markers,
    got.flatMap((a) => a.lsns),
    vdl,
  );
  return { floor: seededBacktrackFloor(markers, cutoffMs, targetLsn), targetLsn, markers: markers.length };
}
