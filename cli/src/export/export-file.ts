import { constants, type Stats } from 'node:fs';
import { copyFile, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FileLayoutSchema, type Manifest, manifestIsConsistent, storeManifest, storeSubjects, SwarmError, chunkLength } from '@swarmshare/common/contracts';
import { PeerClient } from '@swarmshare/common/protocol';
import { HashPool, hashFileOnce } from '@swarmshare/common/hashing';
import type { CliContext } from '../context';
import { gatewayAddress } from '../node-address';

/** A chunk of the node's copy does not match its hash: the node's copy on disk is damaged (fetch repairs it). */
export class CorruptReadError extends SwarmError {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super('HASH_MISMATCH', message);
  }
}

/** How OUT was produced (fetch --json's `exportedBy`, and the bench's check that a path was taken). */
export type ExportMethod = 'copy' | 'local-stream' | 'peer-stream';

export interface ExportOptions {
  /** Never use the in-kernel copy, even when OUT is on the store's filesystem. */
  stream?: boolean;
}

/** Bytes of chunks read ahead plus written behind while streaming: memory stays bounded whatever the chunk size. */
const STREAM_BUDGET = 64 * 1024 * 1024;

/**
 * Write a file the node holds completely to OUT, checking OUT's bytes against the file's chunk
 * hashes (whose manifest hashes to the file id) exactly once:
 * - OUT on the store's filesystem: `copyFile` with COPYFILE_FICLONE (a reflink where the filesystem
 *   has them, else copy_file_range in the kernel; never a hard link, since the store seeds from its
 *   copy), then one hashing pass over OUT, split over the cores;
 * - the store's data file readable here but OUT elsewhere (another mount): one pass that reads,
 *   hashes (on other threads, HashPool) and writes, the writes overlapping the next reads and hashes;
 * - a remote node: the same pass, with the chunks read from the node's gateway over TCP.
 * OUT appears (rename of OUT.partial) only after every byte matched.
 */
export async function exportFile(ctx: CliContext, node: string, fileId: string, output: string, opts: ExportOptions = {}): Promise<ExportMethod> {
  const manifest = await manifestOf(ctx, node, fileId);
  const partial = `${output}.partial`;
  const local = await localDataFile(ctx, node, manifest);
  let method: ExportMethod;
  try {
    if (local && !opts.stream && local.dev === (await stat(dirname(resolve(output)))).dev) {
      await copyFile(local.path, partial, constants.COPYFILE_FICLONE);
      await checkCopy(partial, manifest, node);
      method = 'copy';
    } else {
      method = local ? 'local-stream' : 'peer-stream';
      await streamOut(ctx, node, manifest, partial, local?.path);
    }
  } catch (e) {
    await rm(partial, { force: true });
    const errno = (e as NodeJS.ErrnoException).code;
    throw typeof errno === 'string' && errno.startsWith('E') ? new SwarmError('UNAVAILABLE', `writing ${output} failed: ${describeFsError(e as NodeJS.ErrnoException)}`) : e;
  }
  await rename(partial, output);
  return method;
}

/** The file's manifest from the node's store (over NATS), else its gateway; it must hash to the file id. */
async function manifestOf(ctx: CliContext, node: string, fileId: string): Promise<Manifest> {
  let manifest: Manifest;
  try {
    manifest = await storeManifest(ctx.rpc, node, fileId);
  } catch {
    const peer = await PeerClient.connect(await gatewayAddress(ctx, node), { tls: ctx.peerTls });
    try {
      manifest = await peer.manifest(fileId);
    } finally {
      await peer.close();
    }
  }
  if (manifest.fileId !== fileId || !manifestIsConsistent(manifest)) throw new SwarmError('HASH_MISMATCH', `node ${node} returned a manifest that does not match ${fileId}`);
  return manifest;
}

/**
 * The node's data file, when this process can read it (the usual `swarmshare up` on one host):
 * the store names its path; the size must match. A remote node's path does not exist here, and a
 * store that cannot be asked (or a path that is something else) falls back to the gateway; every
 * byte is checked against the manifest either way.
 */
async function localDataFile(ctx: CliContext, node: string, manifest: Manifest): Promise<{ path: string; dev: number } | undefined> {
  try {
    const layout = await ctx.rpc.request(storeSubjects(node).layout, { fileId: manifest.fileId }, FileLayoutSchema);
    if (layout.present !== layout.chunkCount) return undefined;
    const st: Stats = await stat(layout.path);
    if (!st.isFile() || st.size !== manifest.size) return undefined;
    const fh = await open(layout.path, 'r');
    await fh.close();
    return { path: layout.path, dev: st.dev };
  } catch {
    return undefined;
  }
}

/** One hashing pass over the copy; the first chunk that differs names itself. */
async function checkCopy(path: string, manifest: Manifest, node: string): Promise<void> {
  const { size, chunkHashes } = await hashFileOnce(path, manifest.chunkSize);
  if (size !== manifest.size) throw new SwarmError('HASH_MISMATCH', `the copy of ${manifest.fileId.slice(0, 16)} has ${size} bytes, the manifest says ${manifest.size}`);
  const bad = chunkHashes.findIndex((h, i) => h !== manifest.hashes[i]);
  if (bad >= 0) throw new CorruptReadError(bad, `chunk ${bad} of the copy from node ${node}'s store does not match its hash`);
}

/** Read, hash and write each chunk once, in order, with reads ahead and writes behind bounded by STREAM_BUDGET. */
async function streamOut(ctx: CliContext, node: string, manifest: Manifest, partial: string, localPath: string | undefined): Promise<void> {
  const count = manifest.hashes.length;
  const window = Math.max(2, Math.floor(STREAM_BUDGET / Math.max(1, manifest.chunkSize)));
  const source = localPath ? await localSource(localPath, manifest) : await peerSource(ctx, node, manifest);
  const out: FileHandle = await open(partial, 'w');
  const writes = new Set<Promise<unknown>>();
  // Hashing on the other cores: this thread only reads and writes.
  const pool = new HashPool();
  try {
    const reads: Array<Promise<{ hex: string; data: Buffer }> | undefined> = [];
    const issue = (i: number) => {
      const r = source.read(i).then((b) => pool.hash(b));
      // Awaited in order below; if we stop early, the reads still ahead must not become unhandled rejections.
      r.catch(() => undefined);
      reads[i] = r;
    };
    for (let i = 0; i < Math.min(window, count); i++) issue(i);
    for (let i = 0; i < count; i++) {
      const { hex, data } = await reads[i]!;
      reads[i] = undefined;
      if (i + window < count) issue(i + window);
      if (hex !== manifest.hashes[i]) {
        throw new CorruptReadError(i, `chunk ${i} read from node ${node} does not match its hash`);
      }
      const w = out.write(data, 0, data.length, i * manifest.chunkSize);
      writes.add(w);
      void w.then(() => writes.delete(w), () => undefined);
      // Writes behind: at most `window` chunks wait for the disk.
      if (writes.size >= window) await Promise.race(writes);
    }
    await Promise.all(writes);
  } finally {
    await Promise.allSettled(writes);
    await pool.close();
    await out.close().catch(() => undefined);
    await source.close();
  }
}

interface ChunkSource {
  read(index: number): Promise<Buffer>;
  close(): Promise<void>;
}

async function localSource(path: string, manifest: Manifest): Promise<ChunkSource> {
  const fh = await open(path, 'r');
  return {
    read: async (i) => {
      const len = chunkLength(manifest.size, manifest.chunkSize, i);
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, i * manifest.chunkSize + got);
        if (bytesRead === 0) throw new SwarmError('HASH_MISMATCH', `the store's copy of ${manifest.fileId.slice(0, 16)} is shorter than the manifest says`);
        got += bytesRead;
      }
      return buf;
    },
    close: () => fh.close(),
  };
}

async function peerSource(ctx: CliContext, node: string, manifest: Manifest): Promise<ChunkSource> {
  const peer = await PeerClient.connect(await gatewayAddress(ctx, node), { tls: ctx.peerTls });
  return {
    read: (i) => peer.requestChunk(manifest, i),
    close: async () => {
      await peer.close();
    },
  };
}

/** An fs error in words (the raw one names a syscall and the .partial file). */
export function describeFsError(e: NodeJS.ErrnoException): string {
  const words: Record<string, string> = { ENOENT: 'its directory does not exist', EACCES: 'permission denied', EROFS: 'read-only file system', ENOSPC: 'no space left on the device', EISDIR: 'it is a directory' };
  return (e.code && words[e.code]) ?? e.message;
}
