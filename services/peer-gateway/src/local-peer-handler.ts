import type { Manifest } from '@swarmshare/common';
import type { ChunkRegions } from './chunk-regions';
import type { ChunkStoreClient } from './chunk-store.client';
import type { PeerRequestHandler, ReadRegion, WriteRegion } from '@swarmshare/common';

/** Serves peers from this node's chunk-store: the gateway's side of every request in the protocol. */
export class LocalPeerHandler implements PeerRequestHandler {
  constructor(
    private readonly store: Pick<ChunkStoreClient, 'have' | 'manifest' | 'create'>,
    private readonly regions: Pick<ChunkRegions, 'openRead' | 'openWrite'>,
  ) {}

  async have(fileId: string): Promise<{ chunkCount: number; bitfield: string }> {
    const h = await this.store.have(fileId);
    return { chunkCount: h.chunkCount, bitfield: h.bitfield };
  }

  manifest(fileId: string): Promise<Manifest> {
    return this.store.manifest(fileId);
  }

  openRead(fileId: string, index: number): Promise<ReadRegion> {
    return this.regions.openRead(fileId, index);
  }

  async offer(manifest: Manifest): Promise<void> {
    // The store preallocates the file (NO_SPACE if it cannot) and accepts a file it already has.
    await this.store.create(manifest);
  }

  openWrite(fileId: string, index: number): Promise<WriteRegion> {
    return this.regions.openWrite(fileId, index);
  }
}
