// Collects the page images a snapshot stores into page packs (core/backup/page-pack.ts) and uploads
// each pack once it is full, with a bounded number of uploads in flight (a full snapshot streams the
// database through here; memory stays at a few packs). Images get a provisional location (pack
// sequence number, slot) at once; the packs' ids are known when finish() has uploaded the last one.
import { assert } from '../../core/assert.ts';
import { buildPack } from '../../core/backup/page-pack.ts';

export interface ProvisionalLocation {
  /** The pack's sequence number in this writer (its id comes from finish()). */
  pack: number;
  slot: number;
}

export interface WrittenPacks {
  /** Pack id and slot count by sequence number. */
  packs: { id: string; slots: number }[];
  bytesUploaded: number;
}

export class PackWriter {
  readonly #put: (packId: string, body: Buffer) => Promise<void>;
  readonly #pageSizeBytes: number;
  readonly #pagesPerPack: number;
  readonly #uploadsInFlightMax: number;
  #current: Uint8Array[] = [];
  readonly #packs: { id: string; slots: number }[] = [];
  readonly #uploads: Promise<void>[] = [];
  #uploading = 0;
  readonly #waiters: (() => void)[] = [];
  #failure: Error | undefined;
  #bytesUploaded = 0;
  #finished = false;

  constructor(options: {
    pageSizeBytes: number;
    pagesPerPack: number;
    uploadsInFlight: number;
    put: (packId: string, body: Buffer) => Promise<void>;
  }) {
    assert(options.pagesPerPack >= 1, 'a pack holds at least one page');
    assert(options.uploadsInFlight >= 1, 'pack uploads in flight must be >= 1');
    this.#put = options.put;
    this.#pageSizeBytes = options.pageSizeBytes;
    this.#pagesPerPack = options.pagesPerPack;
    this.#uploadsInFlightMax = options.uploadsInFlight;
  }

  /** Pages added so far. */
  get pages(): number {
    return this.#packs.length * this.#pagesPerPack + this.#current.length;
  }

  /**
   * Places an image; resolves with its location once it is buffered. The location is taken before
   * any wait, so callers that dedupe by content can record it synchronously.
   */
  add(image: Uint8Array): { location: ProvisionalLocation; buffered: Promise<void> } {
    assert(!this.#finished, 'add after finish');
    assert(image.length === this.#pageSizeBytes, () => `an image of ${image.length} bytes`);
    if (this.#failure) throw this.#failure;
    const location = { pack: this.#packs.length, slot: this.#current.length };
    this.#current.push(image);
    const buffered = this.#current.length >= this.#pagesPerPack ? this.#flush() : Promise.resolve();
    return { location, buffered };
  }

  async #flush(): Promise<void> {
    const images = this.#current;
    this.#current = [];
    const { id, body } = buildPack(images, this.#pageSizeBytes);
    this.#packs.push({ id, slots: images.length });
    while (this.#uploading >= this.#uploadsInFlightMax) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#failure) throw this.#failure;
    this.#uploading++;
    const upload = this.#put(id, body)
      .then(
        () => {
          this.#bytesUploaded += body.length;
        },
        (error: Error) => {
          this.#failure ??= error;
          throw error;
        },
      )
      .finally(() => {
        this.#uploading--;
        this.#waiters.shift()?.();
      });
    upload.catch(() => undefined); // observed in finish()
    this.#uploads.push(upload);
  }

  /** Uploads the last, partly filled pack and waits for every upload; the packs by sequence number. */
  async finish(): Promise<WrittenPacks> {
    assert(!this.#finished, 'finish twice');
    if (this.#current.length > 0) await this.#flush();
    this.#finished = true;
    await Promise.all(this.#uploads);
    return { packs: [...this.#packs], bytesUploaded: this.#bytesUploaded };
  }
}
