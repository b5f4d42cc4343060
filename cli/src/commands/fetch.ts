import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  type DiscoverMode,
  DiscoverModeSchema,
  type FileRecord,
  PeerAddressSchema,
  RepairReplySchema,
  DownloadProgressEventSchema,
  type DownloadStatus,
  DownloadStatusSchema,
  downloadProgressSubject,
  FileRecordSchema,
  formatBytes,
  gatewaySubjects,
  SwarmError,
  TrackerSubjects,
} from '@swarmshare/common/contracts';
import { CorruptReadError, exportFile, type ExportMethod } from '../export/export-file';
import type { CliContext } from '../context';
import { resolveFileId } from '../file-ids';
import { progressBar } from '../progress';
import { gatewayAddress } from '../node-address';

export interface FetchOptions {
  /** A full file id, or a unique prefix of at least 8 hex characters. */
  fileId: string;
  node: string;
  output?: string;
  /** How the node finds holders; unset = the tracker when it answers, else iterative lookup. */
  discover?: DiscoverMode;
  /** Overlay peers (host:port) the node joins before looking. */
  peers?: string[];
  /** With output: stream the chunks into it even where an in-kernel copy is possible. */
  stream?: boolean;
  /** Print the summary as one JSON object (FetchSummary) on stdout. */
  json?: boolean;
}

/** `fetch --json`: the summary scripts read (stable: fields are only ever added; docs/cli.md). */
export interface FetchSummary {
  fileId: string;
  /** From the tracker; null in trackerless modes. */
  name: string | null;
  node: string;
  size: number;
  chunkCount: number;
  /** The node held every chunk before this call: nothing was downloaded or counted. */
  alreadyHeld: boolean;
  /** Bytes this call received, in all and per holder. */
  bytesReceived: number;
  fromPeers: Record<string, number>;
  seconds: number;
  discovery: NonNullable<DownloadStatus['discovery']> | null;
  /** Where the file was written (-o), else null. */
  output: string | null;
  /** How -o was written: copy (in the kernel, then checked), local-stream or peer-stream; null without -o. */
  exportedBy: ExportMethod | null;
  /** Time spent writing and checking -o, after the download; null without -o. */
  exportSeconds: number | null;
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

/**
 * `swarmshare fetch ID --node b -o OUT`: node b downloads the file from its holders (verifying
 * every chunk), then the CLI reads it out of node b into OUT and checks the whole-file hash.
 */
export async function fetch(ctx: CliContext, o: FetchOptions): Promise<{ status: DownloadStatus; seconds: number; fileId: string }> {
  const started = Date.now();
  // Everything that can be refused is checked before anything is printed or any byte moves.
  const fileId = await resolveFileId(ctx, o.fileId);
  o = { ...o, fileId };
  await gatewayAddress(ctx, o.node);
  if (o.output) await checkWritable(o.output);
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

  // The total comes from the tracker, or from the manifest once the node has it (trackerless modes).
  const bar = progressBar(`node ${o.node}`, record?.size);
  let status: DownloadStatus;
  try {
    status = await waitForDownload(ctx, o, (s) => {
      if (s.chunkCount > 0 || s.state === 'complete') bar.setTotal(s.size);
      bar.update(s.bytesDone);
    });
  } finally {
    bar.stop();
  }
  // The gateway's own code (NO_SPACE, HASH_MISMATCH, ...) is kept, so the exit status says what failed.
  if (status.state === 'failed') throw new SwarmError(status.errorCode ?? 'UNAVAILABLE', `download failed on node ${o.node}: ${status.error ?? 'unknown reason'}`);
  const seconds = (Date.now() - started) / 1000;
  if (status.alreadyHeld) {
    ctx.info(`node ${o.node} already holds all ${status.chunkCount} chunks of ${record?.name ?? o.fileId.slice(0, 16)}: nothing downloaded, not counted as a download`);
  } else {
    const from = Object.entries(status.fromPeers).map(([n, b]) => `${n}: ${formatBytes(b)}`).join(', ');
    ctx.info(`node ${o.node} has all ${status.chunkCount} chunks, verified, in ${seconds.toFixed(2)} s (received ${from || 'nothing: it already had every chunk'})`);
    if (status.discovery) ctx.info(discoverySummary(status.discovery));
  }

  let exportedBy: ExportMethod | null = null;
  let exportSeconds: number | null = null;
  if (o.output) {
    const exportStarted = Date.now();
    // Checked once, against the chunk hashes of a manifest that hashes to the file id; a node whose
    // copy is damaged repairs it first (exportRepairing).
    exportedBy = await exportRepairing(ctx, o);
    exportSeconds = (Date.now() - exportStarted) / 1000;
    ctx.info(`wrote ${o.output} by ${exportedBy === 'copy' ? 'an in-kernel copy from the node' : 'streaming the chunks'} (every chunk matches the manifest of ${o.fileId.slice(0, 16)})`);
  }
  if (o.json) {
    const summary: FetchSummary = {
      fileId: o.fileId,
      name: record?.name ?? null,
      node: o.node,
      size: status.size,
      chunkCount: status.chunkCount,
      alreadyHeld: status.alreadyHeld === true,
      bytesReceived: Object.values(status.fromPeers).reduce((n, b) => n + b, 0),
      fromPeers: status.fromPeers,
      seconds,
      discovery: status.discovery ?? null,
      output: o.output ?? null,
      exportedBy,
      exportSeconds,
    };
    ctx.out(JSON.stringify(summary));
  }
  return { status, seconds, fileId: o.fileId };
}

/** -o PATH: a file path whose directory exists and is writable, checked before anything is downloaded. */
export async function checkWritable(output: string): Promise<void> {
  const st = await stat(output).catch(() => undefined);
  if (st?.isDirectory()) throw new SwarmError('BAD_REQUEST', `cannot write to ${output}: it is a directory; give a file path in it, e.g. ${output.replace(/\/+$/, '')}/file.bin`);
  const dir = dirname(resolve(output));
  const dst = await stat(dir).catch(() => undefined);
  if (!dst) throw new SwarmError('NOT_FOUND', `cannot write to ${output}: the directory ${dir} does not exist; create it first (mkdir -p ${dir})`);
  if (!dst.isDirectory()) throw new SwarmError('BAD_REQUEST', `cannot write to ${output}: ${dir} is not a directory`);
  await access(dir, constants.W_OK).catch(() => {
    throw new SwarmError('BAD_REQUEST', `cannot write to ${output}: you may not write in ${dir}`);
  });
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
    const sub = ctx.rpc.subscribe(downloadProgressSubject(o.node), DownloadProgressEventSchema, (e) => {
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

/** How long the node may take to re-hash the whole file when a chunk it holds reads back corrupt. */
const REPAIR_CHECK_TIMEOUT_MS = 600_000;

/**
 * Export OUT; if a chunk the node holds reads back corrupt, the node re-hashes its copy of the file
 * (corrupt chunks become missing), fetches what failed from the swarm, and the export runs again,
 * once. So OUT is written only from bytes that match, and a node that cannot repair says so.
 */
async function exportRepairing(ctx: CliContext, o: FetchOptions): Promise<ExportMethod> {
  try {
    return await exportFile(ctx, o.node, o.fileId, o.output!, { stream: o.stream });
  } catch (e) {
    if (!(e instanceof CorruptReadError)) throw e;
    ctx.info(`${e.message}: node ${o.node} re-hashes its copy and fetches the corrupt chunks again`);
  }
  const r = await ctx.rpc.request(gatewaySubjects(o.node).repair, { fileId: o.fileId }, RepairReplySchema, REPAIR_CHECK_TIMEOUT_MS);
  if (r.corrupt.length === 0) {
    throw new SwarmError('HASH_MISMATCH', `node ${o.node} re-hashed all ${r.checked} chunks it holds and found them sound, so the bytes were damaged between the node and this command; try again`);
  }
  const listed = r.corrupt.slice(0, 10).join(', ') + (r.corrupt.length > 10 ? ', ...' : '');
  ctx.info(`node ${o.node} found ${r.corrupt.length} corrupt chunk(s) (${listed}), marked them missing and is fetching them again`);
  const status = await waitForDownload(ctx, o, () => undefined);
  if (status.state === 'failed') {
    throw new SwarmError(status.errorCode ?? 'UNAVAILABLE', `node ${o.node} could not fetch its corrupt chunks again: ${status.error ?? 'unknown reason'}`);
  }
  ctx.info(`node ${o.node} repaired ${r.corrupt.length} chunk(s)`);
  return exportFile(ctx, o.node, o.fileId, o.output!, { stream: o.stream });
}

/** The closing summary's discovery line: which holders were found, how, and how soon. */
export function discoverySummary(d: NonNullable<DownloadStatus['discovery']>): string {
  if (d.holders.length === 0) return `discovery (${d.mode}) found no holder`;
  const list = d.holders.map((h) => `${h.nodeId} (${h.address}) by ${h.via} after ${h.afterMs} ms`).join(', ');
  return `holders found: ${list}`;
}
