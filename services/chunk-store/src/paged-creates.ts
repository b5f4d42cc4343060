import { checkManifestPage, type Manifest, type ManifestPage, MANIFEST_PAGE_HASHES, SwarmError } from '@swarmshare/common';

interface Pending {
  first: ManifestPage;
  /** The raw 32-byte hashes, filled page by page: at most MAX_CHUNKS * 32 bytes, sized from the first page. */
  hashes: Buffer;
  received: number;
  share?: string;
  touchedAt: number;
}

/** A create whose manifest is complete: the caller creates the file from it. */
export type PagedCreateStep = { done: false; received: number } | { done: true; manifest: Manifest; share?: string };

/**
 * `store.create.page`: the manifest of a file too large for one NATS message, gathered page by page,
 * in order (docs/protocol.md "Manifest pages"). Bounded: at most `max` creates at once, each dropped
 * when its next page does not come within `timeoutMs`; every page is checked against the first
 * (checkManifestPage), so a sender cannot make the store hold more than MAX_CHUNKS hashes per create.
 */
export class PagedCreates {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly o: { max: number; timeoutMs: number; now: () => number }) {}

  get size(): number {
    return this.pending.size;
  }

  take(page: ManifestPage, share?: string): PagedCreateStep {
    const now = this.o.now();
    for (const [id, p] of this.pending) if (now - p.touchedAt > this.o.timeoutMs) this.pending.delete(id);
    let p = this.pending.get(page.fileId);
    if (page.from === 0) {
      // A first page (again) starts over: a sender that failed half-way retries from the start.
      checkManifestPage(page, { fileId: page.fileId, from: 0, count: MANIFEST_PAGE_HASHES }, 'the create request');
      this.pending.delete(page.fileId);
      if (this.pending.size >= this.o.max) {
        throw new SwarmError('UNAVAILABLE', `already ${this.pending.size} paged creates under way on this store (PAGED_CREATES_MAX): retry in a moment`);
      }
      p = { first: page, hashes: Buffer.alloc(page.chunkCount * 32), received: 0, share, touchedAt: now };
      this.pending.set(page.fileId, p);
    } else {
      if (!p) throw new SwarmError('NOT_FOUND', `no paged create of file ${page.fileId.slice(0, 16)} is under way (it took longer than PAGED_CREATE_TIMEOUT_MS between pages, or never sent page 0): start again from page 0`);
      checkManifestPage(page, { fileId: page.fileId, from: p.received, count: MANIFEST_PAGE_HASHES, first: p.first }, 'the create request');
    }
    page.hashes.forEach((h, i) => p.hashes.write(h, (page.from + i) * 32, 'hex'));
    p.received += page.hashes.length;
    p.touchedAt = now;
    if (p.received < p.first.chunkCount) return { done: false, received: p.received };
    this.pending.delete(page.fileId);
    const hashes: string[] = new Array<string>(p.first.chunkCount);
    for (let i = 0; i < hashes.length; i++) hashes[i] = p.hashes.toString('hex', i * 32, i * 32 + 32);
    const { fileId, name, size, chunkSize } = p.first;
    return { done: true, manifest: { fileId, name, size, chunkSize, hashes }, ...(p.share !== undefined ? { share: p.share } : {}) };
  }
}

/** Raw hashes of a manifest, 32 bytes each: a fifth of the memory of the hex strings. */
export function rawHashes(hashes: readonly string[]): Buffer {
  const buf = Buffer.allocUnsafe(hashes.length * 32);
  hashes.forEach((h, i) => buf.write(h, i * 32, 'hex'));
  return buf;
}
