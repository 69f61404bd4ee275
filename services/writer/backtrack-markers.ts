// The writer's view of the volume's backtrack markers (ADR 015), read from storage at open: the redo
// publisher tags every batch with the timeline it belongs to (the number of markers), and the markers
// are archived beside the log before a record of their timeline is published, so a restore follows
// the same timeline storage does. A marker is on a write quorum of every PG before any writer opens on
// it, so answers from a read quorum of every PG include it (the list only grows: take the longest).
import { markersFromJson } from '../../core/backtrack/json.ts';
import type { BacktrackMarker } from '../../core/backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { isReadQuorum } from '../../core/quorum.ts';
import type { VolumeConfig } from '../../core/volume.ts';

const requestTimeoutMs = 2_000;

/** The longest list of `lists` when every other is a prefix of it; undefined when two disagree. */
export function longestMarkerList(lists: readonly BacktrackMarker[][]): BacktrackMarker[] | undefined {
  let best: BacktrackMarker[] = [];
  for (const list of lists) if (list.length > best.length) best = list;
  const key = (m: BacktrackMarker) => `${m.seq}/${m.epoch}/${m.appliedAtMs}/${m.targetLsn}/${m.fromLsn}`;
  for (const list of lists) {
    for (let i = 0; i < list.length; i++) if (key(list[i]!) !== key(best[i]!)) return undefined;
  }
  return best;
}

/** Whether the answering nodes make a read quorum of every PG of the volume. */
export function answersMakeReadQuorums(volume: VolumeConfig, answered: ReadonlySet<string>): boolean {
  return volume.placement.every((pg) =>
    isReadQuorum(
      pg.segments.map((s) => answered.has(s.nodeId)),
      pg.segments.map((s) => s.kind),
    ),
  );
}

/**
 * The volume's marker list from a read quorum of every PG, asked again until `deadlineMs` while too
 * few nodes answer (storage nodes just started, or slow on a loaded machine: one round of 2 s
 * timeouts made a writer with a redo stream exit at open in CI); an error saying why not after it.
 */
export async function readVolumeMarkers(
  volume: VolumeConfig,
  deadlineMs = 60_000,
): Promise<BacktrackMarker[]> {
  const giveUpAt = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await readVolumeMarkersOnce(volume);
    } catch (error) {
      if (Date.now() >= giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(attempt * 250, 2_000)));
    }
  }
}

/** GET /admin/backtrack on every storage node, once; the volume's marker list, or an error saying why not. */
async function readVolumeMarkersOnce(volume: VolumeConfig): Promise<BacktrackMarker[]> {
  const answers = await Promise.all(
    volume.nodes.map(async (n) => {
      try {
        const response = await fetch(`http://${n.host}:${n.httpPort}/admin/backtrack`, {
          signal: AbortSignal.timeout(requestTimeoutMs),
        });
        if (!response.ok) return undefined;
        const body = (await response.json()) as { markers: unknown };
        return { node: n.id, markers: markersFromJson(body.markers) };
      } catch {
        return undefined;
      }
    }),
  );
  const got = answers.filter((a) => a !== undefined);
  if (!answersMakeReadQuorums(volume, new Set(got.map((a) => a.node)))) {
    throw new BorealisError(
      ErrorCode.UNAVAILABLE,
      `backtrack markers: ${got.length} of ${volume.nodes.length} storage nodes answered, not a read quorum of every PG`,
    );
  }
  const markers = longestMarkerList(got.map((a) => a.markers));
  if (!markers) {
    throw new BorealisError(ErrorCode.INTERNAL, 'backtrack markers: storage nodes hold lists that disagree', {
      context: { nodes: got.map((a) => `${a.node}:${a.markers.length}`).join(',') },
    });
  }
  return markers;
}
