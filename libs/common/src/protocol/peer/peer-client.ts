import { randomBytes } from 'node:crypto';
import type { Bitfield } from '../../bitfield';
import { chunkLength } from '../../file-id';
import type { Manifest } from '../../schemas';
import type { PeerTlsMaterial } from '../../security/peer-tls';
import type { Hello } from './connection-core';
import { type PeerConnection, connectPeer } from './peer-connection';
import { PeerClosedError } from './peer-errors';

export interface StoreOptions {
  /** STOREs in flight at once (each holds one chunk in memory). */
  concurrency?: number;
  /** Only these chunks (default: all). */
  indexes?: number[];
  onChunk?(index: number, bytes: number): void;
}

/**
 * A peer protocol client that serves nothing: HELLO with a `cli-…` id and no listen address.
 * It is how a CLI (or a test) puts a file into its node (STORE_OFFER, then STORE per chunk) and
 * reads a fetched file back out (MANIFEST_REQUEST, REQUEST/PIECE). Depends only on
 * @swarmshare/common and node:net, so it can move to libs/common as is.
 */
export class PeerClient {
  private constructor(readonly connection: PeerConnection) {}

  /** With `tls` the client's id is the one its certificate names (the node refuses any other). */
  static async connect(address: string, opts: { clientId?: string; connectTimeoutMs?: number; answerTimeoutMs?: number; tls?: PeerTlsMaterial } = {}): Promise<PeerClient> {
    const conn = await connectPeer(address, {
      nodeId: opts.clientId ?? opts.tls?.identity ?? `cli-${randomBytes(6).toString('hex')}`,
      listen: null,
      connectTimeoutMs: opts.connectTimeoutMs,
      answerTimeoutMs: opts.answerTimeoutMs,
      tls: opts.tls,
    }).catch((e: unknown) => {
      // A TLS gateway drops plaintext without a word: say what is probably missing.
      if (!opts.tls && e instanceof PeerClosedError && /before HELLO/.test(e.message)) {
        throw new PeerClosedError(`${e.message}; if the node runs peer TLS (the default), give this client its certificate: --data of the swarm, or PEER_TLS_CA/PEER_TLS_CERT/PEER_TLS_KEY`);
      }
      throw e;
    });
    return new PeerClient(conn);
  }

  get remote(): Hello {
    return this.connection.remote!;
  }

  have(fileId: string): Promise<{ chunkCount: number; bitfield: Bitfield }> {
    return this.connection.have(fileId);
  }

  manifest(fileId: string): Promise<Manifest> {
    return this.connection.manifest(fileId);
  }

  /** Offer the file, then push its chunks; resolves once the node has verified and stored every one. */
  async offerAndStore(manifest: Manifest, readChunk: (index: number, length: number) => Buffer | Promise<Buffer>, opts: StoreOptions = {}): Promise<void> {
    await this.connection.offer(manifest);
    const todo = opts.indexes ?? manifest.hashes.map((_, i) => i);
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const index = todo[next++];
        const length = chunkLength(manifest.size, manifest.chunkSize, index);
        const data = await readChunk(index, length);
        if (data.length !== length) throw new RangeError(`chunk ${index} is ${length} bytes, readChunk gave ${data.length}`);
        await this.connection.store(manifest.fileId, index, data);
        opts.onChunk?.(index, length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, Math.max(1, todo.length)) }, worker));
  }

  /** Read one chunk; `target` (default: a new Buffer) must be the chunk's length. */
  async requestChunk(manifest: Manifest, index: number, target = Buffer.allocUnsafe(chunkLength(manifest.size, manifest.chunkSize, index))): Promise<Buffer> {
    await this.connection.requestChunk(manifest.fileId, index, target);
    return target;
  }

  close(): Promise<string> {
    this.connection.close('client done');
    return this.connection.closed;
  }
}
