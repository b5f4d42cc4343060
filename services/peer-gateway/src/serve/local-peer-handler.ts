import {
  Bitfield,
  chunkBytes,
  type HaveUpdateTarget,
  type Manifest,
  type ManifestPage,
  type OfferReservation,
  type PeerRequestHandler,
  type ReadRegion,
  setNewest,
  SwarmError,
  type WriteRegion,
  writeRegionLength,
} from '@swarmshare/common';
import type { ChunkRegions } from '../storage-io/chunk-regions';
import type { ChunkStoreClient } from '../storage-io/chunk-store.client';
import type { ChunkRepairer } from '../repair/chunk-repairer';
import type { HaveUpdates } from './have-updates';
import type { SuperSeeder } from './super-seed';

/** Files whose replication budgets are remembered (the oldest is forgotten first). */
const MAX_BUDGETS = 1024;

/** Bytes of the chunks a STORE_OFFER places here (BAD_REQUEST when they are not a bitfield of the file's chunks). */
function shareBytes(manifest: Manifest, chunks: string): number {
  let bits: Bitfield;
  try {
    bits = Bitfield.fromBase64(manifest.hashes.length, chunks);
  } catch (e) {
    throw new SwarmError('BAD_REQUEST', `the offered chunks are not a bitfield of the file's ${manifest.hashes.length} chunks: ${(e as Error).message}`);
  }
  return chunkBytes(bits.indexes(), manifest.size, manifest.chunkSize);
}

/** Serves peers from this node's chunk-store: the gateway's side of every request in the protocol. */
export class LocalPeerHandler implements PeerRequestHandler {
  constructor(
    private readonly store: Pick<ChunkStoreClient, 'have' | 'manifest' | 'manifestPage' | 'create'>,
    private readonly regions: Pick<ChunkRegions, 'openRead' | 'openWrite'>,
    /** Replication: reserve space for an upload before accepting its offer (the tracker checks it atomically). */
    private readonly reserve?: (r: OfferReservation) => Promise<void>,
    /** Download acks: a downloader's RECEIPT, passed on to the tracker. */
    private readonly onReceipt?: (r: { fileId: string; bytes: number; chunks: number }, from: string) => Promise<void>,
    /**
     * Swarm shaping and upkeep: super-seeding of complete files, have-updates to peers that asked
     * for a HAVE, and the repairer that re-hashes a chunk a peer reports corrupt.
     */
    private readonly swarm: { superSeed?: SuperSeeder; haveUpdates?: HaveUpdates; repairer?: Pick<ChunkRepairer, 'notice'> } = {},
  ) {
    // Acks count towards the tracker's downloads and seeders: only from a proven identity (peer TLS).
    if (onReceipt) {
      this.receipt = async (r, from, authenticated) => {
        if (!authenticated) throw new SwarmError('UNAVAILABLE', `receipts are taken only from peers authenticated by peer TLS; ${from.slice(0, 64)} is not (PEER_TLS=off)`);
        return onReceipt(r, from);
      };
    }
    const repairer = swarm.repairer;
    if (repairer) this.corrupt = (r, from) => repairer.notice(r.fileId, r.index, from);
  }

  /** Set only when a repairer is wired, so the "corrupt-notice" feature is announced only then. */
  corrupt?: (r: { fileId: string; index: number }, from: string) => void;

  /**
   * Replication: per file, the reservations offered for it (uploadId -> bytes) and the pushed bytes
   * accepted so far. A STORE that would take the file past its reservations is refused: a pusher
   * can never make this node exceed what it reserved.
   */
  private readonly budgets = new Map<string, { reserved: Map<string, number>; used: number }>();

  /** Set only when receipts are wired, so the RECEIPT feature is announced only then. */
  receipt?: (r: { fileId: string; bytes: number; chunks: number }, from: string, authenticated: boolean) => Promise<void>;

  async have(fileId: string): Promise<{ chunkCount: number; bitfield: string }> {
    const h = await this.store.have(fileId);
    return { chunkCount: h.chunkCount, bitfield: h.bitfield };
  }

  manifest(fileId: string): Promise<Manifest> {
    return this.store.manifest(fileId);
  }

  /** A peer's manifest page is the store's page: a large manifest is never assembled to serve one. */
  manifestPage(fileId: string, from: number, count: number): Promise<ManifestPage> {
    return this.store.manifestPage(fileId, from, count);
  }

  /** `from` (a peer that takes TRY_PEERS) may be refused a chunk of a complete file it should get from peers. */
  async openRead(fileId: string, index: number, from?: string): Promise<ReadRegion> {
    const superSeed = this.swarm.superSeed;
    if (from === undefined || !superSeed?.enabled) return this.regions.openRead(fileId, index);
    await superSeed.admit(fileId, index, from);
    let region: ReadRegion;
    try {
      region = await this.regions.openRead(fileId, index);
    } catch (e) {
      superSeed.forget(fileId, index, from);
      throw e;
    }
    // Released once the PIECE is written: the chunk's window counts from then.
    return {
      data: region.data,
      release: async () => {
        superSeed.sent(fileId, index, from);
        await region.release();
      },
    };
  }

  watchHave(fileId: string, target: HaveUpdateTarget): void {
    this.swarm.haveUpdates?.watch(fileId, target);
  }

  async offer(manifest: Manifest, reservation?: OfferReservation): Promise<void> {
    if (reservation) {
      if (!this.reserve) throw new SwarmError('UNAVAILABLE', 'this node takes no reservations');
      // No file needs more room than its own size: a bigger reservation would only hold space hostage.
      if (reservation.bytes > manifest.size) {
        throw new SwarmError('BAD_REQUEST', `reservation of ${reservation.bytes} bytes for a file of ${manifest.size} bytes; a reservation is at most the file's size`);
      }
      // Nor may the chunks it names take more room than it reserves (they are allocated here).
      if (reservation.chunks !== undefined) {
        const share = shareBytes(manifest, reservation.chunks);
        if (share > reservation.bytes) {
          throw new SwarmError('BAD_REQUEST', `the offered chunks take ${share} bytes but the reservation is ${reservation.bytes} bytes; reserve at least what is placed here`);
        }
      }
      await this.reserve(reservation);
      const b = this.budgets.get(manifest.fileId) ?? { reserved: new Map<string, number>(), used: 0 };
      b.reserved.set(reservation.uploadId, reservation.bytes);
      setNewest(this.budgets, manifest.fileId, b, MAX_BUDGETS);
    }
    // A plain push (the CLI putting a whole file into its node) has no reservation: the store's
    // preallocation below caps it by free space and STORE_CAPACITY. It leaves any replication budget
    // of the file in place: one peer's offer must not lift the cap of another's transfer.
    // The store allocates the file (NO_SPACE if it cannot) and accepts a file it already has; a
    // replica's offer names the chunks placed here, so only their space is allocated (issue 14).
    await this.store.create(manifest, reservation?.chunks);
  }

  async openWrite(fileId: string, index: number): Promise<WriteRegion> {
    const b = this.budgets.get(fileId);
    const region = await this.regions.openWrite(fileId, index);
    if (!b) return region;
    const len = writeRegionLength(region);
    const limit = [...b.reserved.values()].reduce((n, x) => n + x, 0);
    if (b.used + len > limit) {
      await region.abandon();
      throw new SwarmError('NO_SPACE', `chunk ${index} would take this node past the ${limit} bytes reserved for file ${fileId.slice(0, 12)}`);
    }
    b.used += len;
    let counted = true;
    const uncount = () => {
      if (counted) b.used -= len;
      counted = false;
    };
    return {
      get data() {
        return region.data;
      },
      length: len,
      ...(region.write ? { write: (slice: Buffer, at: number) => region.write!(slice, at) } : {}),
      commit: async (written) => {
        try {
          await region.commit(written);
        } catch (e) {
          uncount(); // a nacked chunk does not use the reservation
          throw e;
        }
      },
      abandon: async () => {
        uncount();
        await region.abandon();
      },
    };
  }
}
