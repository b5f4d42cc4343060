import { open, stat } from 'node:fs/promises';
import {
  FileRecordSchema,
  formatBytes,
  GatewayInfoSchema,
  gatewaySubjects,
  type Manifest,
  SwarmError,
  TrackerSubjects,
  NodeIdSchema,
  ChunkSizeSchema,
  parseOrThrow,
  PeerClient,
} from '@swarmshare/common';
import type { CliContext } from '../context';
import { hashFile } from '../manifest-builder';
import { progressBar } from '../progress';

export interface ShareOptions {
  file: string;
  node: string;
  chunkSize: number;
  name?: string;
}

const STORES_IN_FLIGHT = 8;

/** Ask a node's gateway where it listens; a node that does not answer is not running. */
export async function gatewayAddress(ctx: CliContext, node: string): Promise<string> {
  parseOrThrow(NodeIdSchema, node, 'node id');
  try {
    return (await ctx.rpc.request(gatewaySubjects(node).info, {}, GatewayInfoSchema)).address;
  } catch (e) {
    if (e instanceof SwarmError && e.code === 'UNAVAILABLE') throw new SwarmError('UNAVAILABLE', `node ${node} does not answer: is it running? (\`swarmshare peers\` lists live nodes)`);
    throw e;
  }
}

/**
 * `swarmshare share FILE --node a`: hash the file, push its chunks into node a (which verifies each
 * one), then register it with the tracker. Returns the file id (also printed last on stdout).
 */
export async function share(ctx: CliContext, o: ShareOptions): Promise<{ fileId: string; manifest: Manifest; seconds: number }> {
  const started = Date.now();
  parseOrThrow(ChunkSizeSchema, o.chunkSize, 'chunk size');
  const st = await stat(o.file).catch(() => {
    throw new SwarmError('NOT_FOUND', `${o.file} does not exist or cannot be read`);
  });
  if (!st.isFile()) throw new SwarmError('BAD_REQUEST', `${o.file} is not a regular file`);
  const address = await gatewayAddress(ctx, o.node);

  const hashing = progressBar('hashing', st.size);
  const { manifest, contentHash } = await hashFile(o.file, o.chunkSize, o.name, (b) => hashing.update(b)).finally(() => hashing.stop());

  const peer = await PeerClient.connect(address);
  const upload = progressBar(`to node ${o.node}`, manifest.size);
  const fh = await open(o.file, 'r');
  try {
    let sent = 0;
    const readChunk = async (index: number, length: number) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, index * manifest.chunkSize);
      if (bytesRead !== length) throw new SwarmError('BAD_LENGTH', `${o.file} changed while being shared`);
      return buf;
    };
    await peer.offerAndStore(manifest, readChunk, { concurrency: STORES_IN_FLIGHT, onChunk: (_i, bytes) => upload.update((sent += bytes)) });
  } finally {
    upload.stop();
    await fh.close();
    await peer.close();
  }

  await ctx.rpc.request(
    TrackerSubjects.registerFile,
    { fileId: manifest.fileId, name: manifest.name, size: manifest.size, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length, hash: contentHash, nodeId: o.node },
    FileRecordSchema,
  );
  const seconds = (Date.now() - started) / 1000;
  ctx.info(`shared ${manifest.name} (${formatBytes(manifest.size)}, ${manifest.hashes.length} chunks) on node ${o.node} in ${seconds.toFixed(2)} s`);
  ctx.out(manifest.fileId);
  return { fileId: manifest.fileId, manifest, seconds };
}
