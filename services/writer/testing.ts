// Test helpers for the writer's unit tests (never imported by production code): a volume of six real
// storage node state machines (services/storage-node, on temp dirs) in this process, reached through
// StorageClient stand-ins that pass every request and reply through the wire codec, and that can
// take a node away (requests made meanwhile fail as if its connection were refused) and bring it
// back, or pause it (requests made meanwhile wait, in order, until it resumes: a slow network).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { RedoRecord } from '../../core/record.ts';
import { defaultPlacement, type StorageNodeAddress, type VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import { decodeMessage, encodeMessage, type StorageMessage } from '../../core/wire/messages.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { StorageNode } from '../storage-node/storage-node.ts';

/** One Append a node was sent: its records and encoded body size. */
export interface SentAppend {
  records: RedoRecord[];
  bodyBytes: number;
}

export class InProcessVolume {
  readonly nodes = new Map<string, StorageNode>();
  readonly clients = new Map<string, StorageClient>();
  /** Nodes taken away: every request made to them fails with UNAVAILABLE until they are brought back. */
  readonly down = new Set<string>();
  /** Paused nodes: a request made to one waits until resume(). */
  readonly #paused = new Map<string, { resumed: Promise<void>; resume: () => void }>();
  /** Node id → the Appends it was sent (and served), in the order they arrived. */
  readonly appends = new Map<string, SentAppend[]>();
  /** Node id → the most requests it ever had in flight at once. */
  readonly inFlightMax = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  /** Requests waiting for a paused node. */
  #held = 0;
  readonly #dir = makeTempDir('writer-unit');

  private constructor(readonly volume: VolumeConfig) {
    for (const node of volume.nodes) {
      const dataDir = join(this.#dir.path, node.id);
      mkdirSync(dataDir, { recursive: true });
      const storage = StorageNode.open({
        id: node.id,
        az: node.az,
        dataDir,
        volume,
        logger: pino({ level: 'silent' }),
        retentionMs: 0,
      });
      storage.acceptsAppends = true; // a fresh node of a fresh volume: no epoch to learn
      this.nodes.set(node.id, storage);
      this.appends.set(node.id, []);
      this.#inFlight.set(node.id, 0);
      this.inFlightMax.set(node.id, 0);
      this.clients.set(node.id, {
        name: node.id,
        request: (message: StorageMessage) => {
          const { type, body } = encodeMessage(message);
          return this.#serve(node.id, type, body);
        },
        requestRaw: (type: number, body: Uint8Array) => this.#serve(node.id, type, body),
      } as unknown as StorageClient);
    }
  }

  /** Six nodes in three AZs (two per AZ), `pgCount` PGs in the default placement. */
  static open(options: { pgCount: number; pagesPerPg: number; pageSizeBytes?: number }): InProcessVolume {
    const nodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
      id: `n${i + 1}`,
      az: `az-${'abc'[Math.floor(i / 2)]}`,
      host: '127.0.0.1',
      port: 1,
      httpPort: 1,
    }));
    return new InProcessVolume({
      volumeId: 'writer-unit',
      pageSizeBytes: options.pageSizeBytes ?? 4096,
      pagesPerPg: options.pagesPerPg,
      nodes,
      placement: defaultPlacement(nodes, options.pgCount),
    });
  }

  async #serve(nodeId: string, type: number, body: Uint8Array): Promise<StorageMessage> {
    const inFlight = this.#inFlight.get(nodeId)! + 1;
    this.#inFlight.set(nodeId, inFlight);
    this.inFlightMax.set(nodeId, Math.max(this.inFlightMax.get(nodeId)!, inFlight));
    // A request's fate is sealed when it is made: refused if the node is away, delayed if paused.
    const refused = this.down.has(nodeId);
    const paused = this.#paused.get(nodeId)?.resumed;
    try {
      // A turn of the event loop, as a socket would take: requests made together overlap.
      await new Promise((r) => setImmediate(r));
      if (paused) {
        this.#held++;
        await paused;
        this.#held--;
      }
      if (refused) {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `${nodeId}: connection refused (taken away by the test)`,
        );
      }
      const request = decodeMessage(type, body);
      if (request.type === 'append') {
        this.appends.get(nodeId)!.push({ records: request.records, bodyBytes: body.length });
      }
      const reply = encodeMessage(await this.nodes.get(nodeId)!.handle(request));
      return decodeMessage(reply.type, reply.body);
    } finally {
      this.#inFlight.set(nodeId, this.#inFlight.get(nodeId)! - 1);
    }
  }

  /** Requests made to the node from now on wait until resume(nodeId). */
  pause(nodeId: string): void {
    if (this.#paused.has(nodeId)) return;
    let resume!: () => void;
    const resumed = new Promise<void>((r) => {
      resume = r;
    });
    this.#paused.set(nodeId, { resumed, resume });
  }

  /** Serves the requests a pause held, in the order they were made. */
  resume(nodeId: string): void {
    this.#paused.get(nodeId)?.resume();
    this.#paused.delete(nodeId);
  }

  /**
   * Resolves once no request is in flight to any node but those a pause holds (after at least one
   * turn of the event loop).
   */
  async idle(): Promise<void> {
    do await new Promise((r) => setTimeout(r, 1));
    while ([...this.#inFlight.values()].reduce((a, b) => a + b, 0) > this.#held);
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) await node.close();
    this.#dir.remove();
  }
}
