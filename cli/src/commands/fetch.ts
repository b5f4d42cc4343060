import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import {
  type DiscoverMode,
  DiscoverModeSchema,
  type FileRecord,
  PeerAddressSchema,
  DownloadProgressEventSchema,
  type DownloadStatus,
  DownloadStatusSchema,
  EventSubjects,
  FileIdSchema,
  FileRecordSchema,
  formatBytes,
  gatewaySubjects,
  manifestIsConsistent,
  parseOrThrow,
  sha256Hex,
  SwarmError,
  TrackerSubjects,
  PeerClient,
} from '@swarmshare/common';
import type { CliContext } from '../context';
import { progressBar } from '../progress';
import { gatewayAddress } from './share';

export interface FetchOptions {
  fileId: string;
  node: string;
  output?: string;
  /** How the node finds holders; unset = the tracker when it answers, else iterative lookup. */
  discover?: DiscoverMode;
  /** Overlay peers (host:port) the node joins before looking. */
  peers?: string[];
}

/** `--discover` value, checked: a clear error instead of a silent default. */
export function parseDiscover(v: string): DiscoverMode {
  const r = DiscoverModeSchema.safeParse(v);
  if (!r.success) throw new SwarmError('BAD_REQUEST', `--discover must be tracker, flood or iterative, got "${v}"`);
  return r.data;
}

/** `--peers host:port,...`, checked. */
export function parsePeers(v: string): string[] {
  const list = v.split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of list) if (!PeerAddressSchema.safeParse(a).success) throw new SwarmError('BAD_REQUEST', `--peers: "${a}" is not host:port`);
  if (list.length === 0) throw new SwarmError('BAD_REQUEST', '--peers needs at least one host:port');
  return list;
}

const READS_IN_FLIGHT = 8;

/**
 * `swarmshare fetch ID --node b -o OUT`: node b downloads the file from its holders (verifying
 * every chunk), then the CLI reads it out of node b into OUT and checks the whole-file hash.
 */
export async function fetch(ctx: CliContext, o: FetchOptions): Promise<{ status: DownloadStatus; seconds: number }> {
  const started = Date.now();
  parseOrThrow(FileIdSchema, o.fileId, 'file id');
  // Trackerless modes never ask the tracker; the default asks it, and goes on without it when it is down.
  let record: FileRecord | undefined;
  if (o.discover === undefined || o.discover === 'tracker') {
    try {
      record = await ctx.rpc.request(TrackerSubjects.getFile, { fileId: o.fileId }, FileRecordSchema);
    } catch (e) {
      // The tracker's own answer (e.g. NOT_FOUND) stands; only silence means "look through the peers".
      const code = (e as SwarmError).code;
      if (o.discover === 'tracker' || (code !== 'UNAVAILABLE' && code !== 'TIMEOUT')) throw e;
      ctx.info(`the tracker does not answer (${(e as Error).message}); node ${o.node} looks for holders through its peers`);
    }
  }
  if (record) ctx.info(`fetching ${record.name} (${formatBytes(record.size)}) on node ${o.node} from ${record.seeders.map((s) => s.nodeId).join(', ') || 'no live seeder'}`);
  else ctx.info(`fetching ${o.fileId.slice(0, 16)} on node ${o.node} by ${o.discover ?? 'iterative'} discovery`);

  const bar = progressBar(`node ${o.node}`, record?.size ?? 0);
  let status: DownloadStatus;
  try {
    status = await waitForDownload(ctx, o, (s) => bar.update(s.bytesDone));
  } finally {
    bar.stop();
  }
  if (status.state === 'failed') throw new SwarmError('UNAVAILABLE', `download failed on node ${o.node}: ${status.error ?? 'unknown reason'}`);
  const seconds = (Date.now() - started) / 1000;
  const from = Object.entries(status.fromPeers).map(([n, b]) => `${n}: ${formatBytes(b)}`).join(', ');
  ctx.info(`node ${o.node} has all ${status.chunkCount} chunks, verified, in ${seconds.toFixed(2)} s (received ${from || 'nothing: it already had the file'})`);
  if (status.discovery) ctx.info(discoverySummary(status.discovery));

  if (o.output) {
    await exportFile(ctx, o.node, o.fileId, o.output, record?.hash);
    // Without the tracker there is no whole-file hash to compare, but every chunk was checked against a manifest that matches the file id.
    ctx.info(record ? `wrote ${o.output} (whole-file SHA-256 matches the tracker's)` : `wrote ${o.output} (every chunk matches the manifest of ${o.fileId.slice(0, 16)})`);
  }
  return { status, seconds };
}

/** Start (or join) the download and follow its progress events; poll status too, since events may be lost. */
async function waitForDownload(ctx: CliContext, o: FetchOptions, onProgress: (s: DownloadStatus) => void): Promise<DownloadStatus> {
  const subjects = gatewaySubjects(o.node);
  return new Promise<DownloadStatus>((resolve, reject) => {
    let finished = false;
    const finish = (s: DownloadStatus) => {
      if (finished) return;
      onProgress(s);
      if (s.state !== 'complete' && s.state !== 'failed') return;
      finished = true;
      sub.unsubscribe();
      clearInterval(poll);
      resolve(s);
    };
    const fail = (e: unknown) => {
      if (finished) return;
      finished = true;
      sub.unsubscribe();
      clearInterval(poll);
      reject(e);
    };
    const sub = ctx.rpc.subscribe(EventSubjects.downloadProgress, DownloadProgressEventSchema, (e) => {
      if (e.nodeId === o.node && e.fileId === o.fileId) finish(e);
    });
    const poll = setInterval(() => {
      ctx.rpc.request(subjects.status, { fileId: o.fileId }, DownloadStatusSchema).then(finish, (e) => {
        if (!(e instanceof SwarmError && e.code === 'TIMEOUT')) fail(e);
      });
    }, 1000);
    const req = { fileId: o.fileId, ...(o.discover ? { discover: o.discover } : {}), ...(o.peers?.length ? { peers: o.peers } : {}) };
    ctx.rpc.request(subjects.fetch, req, DownloadStatusSchema).then(finish, fail);
  });
}

/** Read the file out of a node chunk by chunk, verifying each chunk and the whole content. */
async function exportFile(ctx: CliContext, node: string, fileId: string, output: string, contentHash?: string): Promise<void> {
  const peer = await PeerClient.connect(await gatewayAddress(ctx, node));
  const partial = `${output}.partial`;
  const fh = await open(partial, 'w');
  try {
    const manifest = await peer.manifest(fileId);
    if (manifest.fileId !== fileId || !manifestIsConsistent(manifest)) throw new SwarmError('HASH_MISMATCH', `node ${node} returned a manifest that does not match ${fileId}`);
    const whole = createHash('sha256');
    const count = manifest.hashes.length;
    const reads: Array<Promise<Buffer>> = [];
    const issue = (i: number) => {
      const read = peer.requestChunk(manifest, i);
      // Awaited in order below; if we stop early, the reads still ahead must not become unhandled rejections.
      read.catch(() => undefined);
      return read;
    };
    for (let i = 0; i < Math.min(READS_IN_FLIGHT, count); i++) reads.push(issue(i));
    // Consume in order so the whole-file hash runs as we go; keep READS_IN_FLIGHT requests ahead.
    for (let i = 0; i < count; i++) {
      const data = await reads[i];
      if (i + READS_IN_FLIGHT < count) reads.push(issue(i + READS_IN_FLIGHT));
      if (sha256Hex(data) !== manifest.hashes[i]) throw new SwarmError('HASH_MISMATCH', `chunk ${i} read from node ${node} does not match its hash`);
      whole.update(data);
      await fh.write(data, 0, data.length, i * manifest.chunkSize);
      delete reads[i];
    }
    if (contentHash !== undefined && whole.digest('hex') !== contentHash) throw new SwarmError('HASH_MISMATCH', `the whole file's SHA-256 does not match the tracker's record`);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw e;
  } finally {
    await peer.close();
  }
  await fh.close().catch(() => undefined);
  await rename(partial, output);
}

/** The closing summary's discovery line: which holders were found, how, and how soon. */
export function discoverySummary(d: NonNullable<DownloadStatus['discovery']>): string {
  if (d.holders.length === 0) return `discovery (${d.mode}) found no holder`;
  const list = d.holders.map((h) => `${h.nodeId} (${h.address}) by ${h.via} after ${h.afterMs} ms`).join(', ');
  return `holders found: ${list}`;
}
