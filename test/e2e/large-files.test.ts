import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  Bitfield,
  CloseReplySchema,
  computeFileId,
  LeaseSchema,
  type Manifest,
  manifestIsConsistent,
  ManifestSchema,
  MANIFEST_PAGE_HASHES,
  MAX_CHUNKS,
  MAX_WHOLE_MANIFEST_HASHES,
  MIN_CHUNK_SIZE,
  NatsRpc,
  PeerClient,
  sha256Hex,
  storeManifest,
  storeSubjects,
  TFileDefSchema,
} from '@swarmshare/common';
import { REPO_ROOT } from '../../cli/src/launcher/service-process';
import { ownSwarm } from '../support/own-swarm';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The swarmshare command exactly as a user runs it. */
async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 64 * MiB, timeout: 900_000 });
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(b as Buffer);
  return h.digest('hex');
}

/**
 * A file of `chunks` chunks of 64 KiB (the last one short), each different (its index up front of a
 * random block), written fast; returns its SHA-256.
 */
async function writeChunkedFile(path: string, chunks: number, lastChunk: number): Promise<string> {
  const block = randomBytes(MIN_CHUNK_SIZE);
  const batch = 64;
  const buf = Buffer.alloc(batch * MIN_CHUNK_SIZE);
  const h = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    for (let i = 0; i < chunks; i += batch) {
      const n = Math.min(batch, chunks - i);
      for (let j = 0; j < n; j++) {
        block.copy(buf, j * MIN_CHUNK_SIZE);
        buf.writeUInt32BE(i + j, j * MIN_CHUNK_SIZE);
      }
      const len = i + n === chunks ? (n - 1) * MIN_CHUNK_SIZE + lastChunk : n * MIN_CHUNK_SIZE;
      const part = buf.subarray(0, len);
      h.update(part);
      await fh.write(part);
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

describe('end to end: large files (manifests in pages)', () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const A = `lg-a-${suffix}`;
  const B = `lg-b-${suffix}`;
  const own = ownSwarm('ss-large-', { nodes: 2, nodeIds: [A, B], insecure: true, extraEnv: { ANNOUNCE_INTERVAL_MS: '500' } });
  const dir = own.dir;
  /** A file's last create page makes the store parse and write a manifest of up to 1.6 million hashes: more than 10 s on a busy machine. */
  const rpc = () => new NatsRpc(own.nc, 120_000);
  const peerAddress = (nodeId: string) => own.swarm.nodes.find((n) => n.spec.nodeId === nodeId)!.spec.advertiseAddress;
  const common = () => ['--data', own.swarm.dataDir];

  it('shares and fetches a file of 100,000 chunks byte-identical; its manifest crosses NATS and the peer protocol in pages', async () => {
    const chunks = 100_000;
    const input = join(dir, 'many-chunks.bin');
    const output = join(dir, 'many-chunks.out');
    const hash = await writeChunkedFile(input, chunks, 1234);
    const size = (chunks - 1) * MIN_CHUNK_SIZE + 1234;

    const shared = await cli([...common(), 'share', input, '--node', A, '--chunk-size', '64KiB']);
    const fileId = shared.stdout.trim().split('\n').pop()!;
    expect(fileId).toMatch(/^[0-9a-f]{64}$/);
    rmSync(input);

    // NATS: the store refuses the manifest whole (more than one message), and gives it in 13 pages.
    await expect(rpc().request(storeSubjects(A).manifest, { fileId }, ManifestSchema)).rejects.toMatchObject({ code: 'TOO_LARGE' });
    const viaNats = await storeManifest(rpc(), A, fileId);
    expect(viaNats.hashes).toHaveLength(chunks);
    expect(Math.ceil(chunks / MANIFEST_PAGE_HASHES)).toBe(13);
    expect(manifestIsConsistent(viaNats)).toBe(true);
    expect(viaNats).toMatchObject({ fileId, size, chunkSize: MIN_CHUNK_SIZE, name: 'many-chunks.bin' });

    // Peer protocol: node A's gateway serves it in pages (feature manifest-pages).
    const peer = await PeerClient.connect(peerAddress(A));
    try {
      expect(await peer.manifest(fileId)).toEqual(viaNats);
    } finally {
      await peer.close();
    }

    // Node B fetches it (manifest from A in pages, created in B's store in pages), then writes it out.
    await cli([...common(), 'fetch', fileId, '--node', B, '-o', output]);
    expect(await sha256File(output)).toBe(hash);
    const def = (await rpc().request(storeSubjects(B).files, {}, TFileDefSchema.array())).find((f) => f.fileId === fileId);
    expect(def).toMatchObject({ chunkCount: chunks, chunksPresent: chunks, state: 'complete' });
    rmSync(output);
    await cli([...common(), 'rm', fileId, '--everywhere']);
  }, 1_200_000);

  it('admits a 100 GiB file: 1,638,400 chunks of 64 KiB created in 200 pages, served by a real gateway, chunks read at both ends', async () => {
    // A sparse 100 GiB file of zeros: every chunk has the SHA-256 of 64 KiB of zeros, so its manifest
    // is known without reading 100 GiB (hashing 100 GiB on this machine would take minutes).
    const size = 100 * GiB;
    const count = size / MIN_CHUNK_SIZE;
    expect(count).toBe(1_638_400);
    expect(count).toBeLessThanOrEqual(MAX_CHUNKS);
    const zeroHash = sha256Hex(Buffer.alloc(MIN_CHUNK_SIZE));
    const hashes = new Array<string>(count).fill(zeroHash);
    const manifest: Manifest = { fileId: computeFileId(size, MIN_CHUNK_SIZE, hashes), name: 'sparse-100g.img', size, chunkSize: MIN_CHUNK_SIZE, hashes };

    // Node A's store takes it in pages (store.create.page), holding only a few chunks (a share: no 100 GiB allocation).
    const held = [0, 1, count / 2, count - 1];
    const share = new Bitfield(count);
    for (const i of held) share.set(i);
    const { ChunkStoreClient } = await import('../../services/peer-gateway/src/storage-io/chunk-store.client');
    const store = new ChunkStoreClient(rpc(), A);
    expect(count).toBeGreaterThan(MAX_WHOLE_MANIFEST_HASHES);
    const def = await store.create(manifest, share.toBase64());
    expect(def).toMatchObject({ fileId: manifest.fileId, size, chunkCount: count, chunksPresent: 0 });

    // Its regions read back as zeros (fallocated), so closing a write lease makes each chunk present after the store hashed it.
    for (const index of held) {
      const lease = await rpc().request(storeSubjects(A).location, { fileId: manifest.fileId, index, mode: 'write' }, LeaseSchema);
      expect(lease.offset).toBe(index * MIN_CHUNK_SIZE);
      const closed = await rpc().request(storeSubjects(A).close, { leaseId: lease.leaseId, written: lease.length }, CloseReplySchema);
      expect(closed.available).toBe(true);
    }

    // The manifest comes back whole, through NATS pages and through the gateway's peer pages.
    const pagesFromStore = await storeManifest(rpc(), A, manifest.fileId);
    expect(pagesFromStore.hashes.length).toBe(count);
    expect(manifestIsConsistent(pagesFromStore)).toBe(true);
    const peer = await PeerClient.connect(peerAddress(A));
    try {
      const m = await peer.manifest(manifest.fileId);
      expect(m.fileId).toBe(manifest.fileId);
      expect(m.size).toBe(size);
      expect(manifestIsConsistent(m)).toBe(true);
      const have = await peer.have(manifest.fileId);
      expect(have.chunkCount).toBe(count);
      expect(have.bitfield.indexes()).toEqual(held);
      for (const index of [0, count - 1]) expect((await peer.requestChunk(m, index)).equals(Buffer.alloc(MIN_CHUNK_SIZE))).toBe(true);
    } finally {
      await peer.close();
    }
    await store.delete(manifest.fileId);
  }, 900_000);
});
