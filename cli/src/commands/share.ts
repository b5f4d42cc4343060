import { open, stat } from 'node:fs/promises';
import {
  chunkLength,
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
} from '@swarmshare/common';
import type { CliContext } from '../context';
import { hashFile } from '../manifest-builder';
import { PeerClient } from '../peer-client';
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
  try {
    await peer.offer(manifest);
    const upload = progressBar(`to node ${o.node}`, manifest.size);
    const fh = await open(o.file, 'r');
    try {
      let next = 0;
      let sent = 0;
      const worker = async () => {
        while (next < manifest.hashes.length) {
          const index = next++;
          const len = chunkLength(manifest.size, manifest.chunkSize, index);
          const buf = Buffer.allocUnsafe(len);
          const { bytesRead } = await fh.read(buf, 0, len, index * manifest.chunkSize);
          if (bytesRead !== len) throw new SwarmError('BAD_LENGTH', `${o.file} changed while being shared`);
          await peer.store(manifest.fileId, index, buf);
          sent += len;
          upload.update(sent);
        }
      };
      await Promise.all(Array.from({ length: STORES_IN_FLIGHT }, worker)).finally(() => upload.stop());
    } finally {
      await fh.close();
    }
  } finally {
    peer.close();
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
