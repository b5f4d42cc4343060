import { SwarmError } from './errors';
import { chunkCount } from './file-id';
import { MANIFEST_PAGE_HASHES, MAX_CHUNKS, type Manifest, type ManifestPage, ManifestPageSchema } from './schemas';
import { storeSubjects } from './subjects';

/** What storeManifest needs of a NATS client (NatsRpc is one). */
export interface PageRequester {
  request(subject: string, body: unknown, schema: typeof ManifestPageSchema, timeoutMs?: number): Promise<ManifestPage>;
}

/**
 * Manifests larger than one NATS message or one peer frame travel in pages (docs/protocol.md
 * "Manifest pages"): the same page shape on NATS (`store.manifest.page`, `store.create.page`) and
 * on the peer protocol (MANIFEST_REQUEST with `from`, answered by MANIFEST_PAGE).
 */

/** Page `from`..`from + count` of a manifest; OUT_OF_RANGE past its chunks (a file with none has one empty page, from 0). */
export function manifestPage(m: Manifest, from: number, count: number): ManifestPage {
  const total = m.hashes.length;
  if (from > total || (from === total && total > 0)) throw new SwarmError('OUT_OF_RANGE', `manifest page from ${from} is past the ${total} chunks of file ${m.fileId}`);
  return { fileId: m.fileId, name: m.name, size: m.size, chunkSize: m.chunkSize, chunkCount: total, from, hashes: m.hashes.slice(from, from + count) };
}

/** The pages after the first one of a manifest of `total` hashes: their `from`s. */
export function pageStarts(total: number, pageHashes = MANIFEST_PAGE_HASHES): number[] {
  const out: number[] = [];
  for (let from = pageHashes; from < total; from += pageHashes) out.push(from);
  return out;
}

/**
 * The check every receiver makes of a page: the same file facts as the first page, where it was
 * asked for, and exactly the hashes asked for (the rest, for the last page). Throws BAD_REQUEST
 * naming what is wrong and who sent it.
 */
export function checkManifestPage(page: ManifestPage, expect: { fileId: string; from: number; count: number; first?: ManifestPage }, source: string): void {
  const bad = (why: string) => new SwarmError('BAD_REQUEST', `${source} sent a bad manifest page of ${expect.fileId.slice(0, 16)}: ${why}`);
  if (page.fileId !== expect.fileId) throw bad(`it is for file ${page.fileId}`);
  const total = chunkCount(page.size, page.chunkSize);
  if (page.chunkCount !== total) throw bad(`chunkCount is ${page.chunkCount}, but ${page.size} bytes in chunks of ${page.chunkSize} make ${total}`);
  if (total > MAX_CHUNKS) throw bad(`${total} chunks is more than the ${MAX_CHUNKS} a file may have`);
  const f = expect.first;
  if (f && (page.name !== f.name || page.size !== f.size || page.chunkSize !== f.chunkSize)) throw bad('its name, size or chunk size differ from the first page');
  if (page.from !== expect.from) throw bad(`it starts at ${page.from}, not at ${expect.from} as asked`);
  const want = Math.min(expect.count, Math.max(0, total - expect.from));
  if (page.hashes.length !== want) throw bad(`it carries ${page.hashes.length} hashes, not ${want}`);
}

/**
 * Fetch a whole manifest page by page through `fetchPage` (a NATS request, a peer request), at most
 * `concurrency` pages at once, each checked (checkManifestPage). The first page says how many
 * chunks there are, and that is bounded by MAX_CHUNKS, so a sender cannot make us hold more.
 */
export async function collectManifestPages(
  fileId: string,
  fetchPage: (from: number, count: number) => Promise<ManifestPage>,
  opts: { source: string; concurrency?: number; pageHashes?: number },
): Promise<Manifest> {
  const pageHashes = opts.pageHashes ?? MANIFEST_PAGE_HASHES;
  const first = await fetchPage(0, pageHashes);
  checkManifestPage(first, { fileId, from: 0, count: pageHashes }, opts.source);
  const hashes: string[] = new Array<string>(first.chunkCount);
  const put = (p: ManifestPage) => p.hashes.forEach((h, i) => (hashes[p.from + i] = h));
  put(first);
  const starts = pageStarts(first.chunkCount, pageHashes);
  let next = 0;
  const worker = async () => {
    while (next < starts.length) {
      const from = starts[next++];
      const page = await fetchPage(from, pageHashes);
      checkManifestPage(page, { fileId, from, count: pageHashes, first }, opts.source);
      put(page);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, starts.length)) }, worker));
  return { fileId, name: first.name, size: first.size, chunkSize: first.chunkSize, hashes };
}

/** The pages of a manifest, in order (a sender's side of `store.create.page`). */
export function* manifestPages(m: Manifest, pageHashes = MANIFEST_PAGE_HASHES): Generator<ManifestPage> {
  yield manifestPage(m, 0, pageHashes);
  for (const from of pageStarts(m.hashes.length, pageHashes)) yield manifestPage(m, from, pageHashes);
}

/** A file's whole manifest from node `nodeId`'s store over NATS (`store.manifest.page`), of any size. */
export function storeManifest(rpc: PageRequester, nodeId: string, fileId: string, timeoutMs?: number): Promise<Manifest> {
  const subject = storeSubjects(nodeId).manifestPage;
  return collectManifestPages(fileId, (from, count) => rpc.request(subject, { fileId, from, count }, ManifestPageSchema, timeoutMs), { source: `the store of node ${nodeId}` });
}
