import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { Bitfield, type Lease, SwarmError } from '@swarmshare/common';
import { ChunkRegions } from './chunk-regions';

const CHUNK = 64 * 1024;

/** The store calls ChunkRegions makes, answered from a table, with every close and layout recorded. */
function fakeStore(pathFor: (fileId: string) => string) {
  const closes: Array<{ leaseId: string; written?: number; sha256?: string; abandon?: true }> = [];
  const present = new Bitfield(3);
  const layouts: string[] = [];
  let n = 0;
  return {
    closes,
    present,
    layouts,
    store: {
      layout: async (fileId: string) => {
        layouts.push(fileId);
        return { fileId, chunkCount: 3, present: present.count(), bitfield: present.toBase64(), path: pathFor(fileId), size: 2 * CHUNK + 100, chunkSize: CHUNK };
      },
      location: async (fileId: string, index: number, mode: 'read' | 'write'): Promise<Lease> => ({
        leaseId: `l${++n}`,
        fileId,
        index,
        mode,
        path: pathFor(fileId),
        offset: index * CHUNK,
        length: index === 2 ? 100 : CHUNK,
        expiresAt: Date.now() + 60_000,
      }),
      close: async (leaseId: string, written?: number, sha256?: string) => {
        closes.push(sha256 === undefined ? { leaseId, written } : { leaseId, written, sha256 });
        return { leaseId, fileId: 'ab'.repeat(32), index: 0, available: true, fileComplete: false };
      },
      abandon: async (leaseId: string) => {
        closes.push({ leaseId, abandon: true });
        return { leaseId, fileId: 'ab'.repeat(32), index: 0, available: false, fileComplete: false };
      },
    },
  };
}

describe('ChunkRegions', () => {
  let dir: string;
  let file: string;
  let content: Buffer;
  const fileId = 'ab'.repeat(32);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-regions-'));
    file = join(dir, 'files', 'data.bin');
    content = randomBytes(2 * CHUNK + 100);
    require('node:fs').mkdirSync(join(dir, 'files'));
    writeFileSync(file, content);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads present chunks without a lease, from one mapping, asking the store for the layout once', async () => {
    const { store, closes, present, layouts } = fakeStore(() => file);
    present.set(1);
    present.set(2);
    const r = new ChunkRegions(store, dir);
    const one = await r.openRead(fileId, 1);
    expect(one.data.equals(content.subarray(CHUNK, 2 * CHUNK))).toBe(true);
    const last = await r.openRead(fileId, 2);
    expect(last.data.equals(content.subarray(2 * CHUNK))).toBe(true);
    await one.release();
    await Promise.all([r.openRead(fileId, 1), r.openRead(fileId, 2)]);
    expect(layouts).toHaveLength(1);
    expect(closes).toEqual([]);
  });

  it('asks again for a chunk not seen present, and refuses missing and out-of-range chunks', async () => {
    const { store, present, layouts } = fakeStore(() => file);
    present.set(0);
    const r = new ChunkRegions(store, dir);
    await r.openRead(fileId, 0);
    await expect(r.openRead(fileId, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    present.set(1); // the chunk arrived since (e.g. written by another path)
    expect((await r.openRead(fileId, 1)).data.equals(content.subarray(CHUNK, 2 * CHUNK))).toBe(true);
    await expect(r.openRead(fileId, 3)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(r.openRead(fileId, -1)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    expect(layouts.length).toBeGreaterThanOrEqual(3);
  });

  it('forget: lost chunks, or a deleted file, are no longer served from the cache, and the listeners hear of it', async () => {
    const { store, present, layouts } = fakeStore(() => file);
    present.set(0);
    present.set(1);
    const r = new ChunkRegions(store, dir);
    const lost: string[] = [];
    r.onLost((id) => lost.push(id));
    await r.openRead(fileId, 0);
    await r.openRead(fileId, 1);
    present.set(1, false); // the store marked chunk 1 missing (it failed a re-hash)
    await r.forget(fileId, [1]);
    await expect(r.openRead(fileId, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' }); // asked the store again
    await r.openRead(fileId, 0); // still served from the cache
    const open = await r.openWrite(fileId, 2);
    await r.forget(fileId); // deleted: the layout is asked for anew and the open write given up
    await expect(open.commit(100)).rejects.toMatchObject({ code: 'LEASE_CLOSED' });
    const asked = layouts.length;
    await r.openRead(fileId, 0);
    expect(layouts.length).toBe(asked + 1);
    expect(lost).toEqual([fileId, fileId]);
  });

  it('serves a chunk it wrote and committed itself without asking the store', async () => {
    const { store, present, layouts } = fakeStore(() => file);
    present.set(0);
    const r = new ChunkRegions(store, dir);
    await r.openRead(fileId, 0);
    const w = await r.openWrite(fileId, 1);
    w.write!(content.subarray(CHUNK, 2 * CHUNK), 0);
    await w.commit(CHUNK);
    expect((await r.openRead(fileId, 1)).data.equals(content.subarray(CHUNK, 2 * CHUNK))).toBe(true);
    expect(layouts).toHaveLength(1);
  });

  it('writes through the shared mapping and commits with the bytes written', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const w = await r.openWrite(fileId, 1);
    const fresh = randomBytes(CHUNK);
    fresh.copy(w.data);
    expect(r.writesInFlight).toBe(1);
    await w.commit(CHUNK);
    expect(closes).toEqual([{ leaseId: 'l1', written: CHUNK }]);
    expect(r.writesInFlight).toBe(0);
    // MAP_SHARED: the bytes are in the file, not in a private copy.
    expect(readFileSync(file).subarray(CHUNK, 2 * CHUNK).equals(fresh)).toBe(true);
  });

  it('refuses a layout or lease whose path is outside DATA_DIR, and hands the lease back', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pg-outside-'));
    writeFileSync(join(outside, 'secret'), randomBytes(3 * CHUNK));
    try {
      for (const path of [join(outside, 'secret'), join(dir, '..', outside.split('/').pop()!, 'secret'), dir + '-evil/x']) {
        const { store, closes, present } = fakeStore(() => path);
        present.set(0);
        const r = new ChunkRegions(store, dir);
        await expect(r.openRead(fileId, 0)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/outside this gateway's DATA_DIR/) });
        await expect(r.openWrite(fileId, 0)).rejects.toBeInstanceOf(SwarmError);
        await new Promise((res) => setImmediate(res));
        expect(closes).toEqual([{ leaseId: 'l1', abandon: true }]);
      }
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('closes with the byte count only, however the chunk was written: the store hashes what it holds', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const bytes = randomBytes(CHUNK);
    const inOrder = await r.openWrite(fileId, 0);
    for (let at = 0; at < CHUNK; at += 10_000) inOrder.write!(bytes.subarray(at, Math.min(CHUNK, at + 10_000)), at);
    await inOrder.commit(CHUNK);
    expect(closes[0]).toEqual({ leaseId: 'l1', written: CHUNK });
    expect(readFileSync(file).subarray(0, CHUNK).equals(bytes)).toBe(true);

    const outOfOrder = await r.openWrite(fileId, 1);
    outOfOrder.write!(bytes.subarray(CHUNK / 2), CHUNK / 2);
    outOfOrder.write!(bytes.subarray(0, CHUNK / 2), 0);
    await outOfOrder.commit(CHUNK);
    const viaMapping = await r.openWrite(fileId, 0);
    bytes.copy(viaMapping.data);
    await viaMapping.commit(CHUNK);
    const short = await r.openWrite(fileId, 1);
    short.write!(bytes.subarray(0, 10), 0);
    await short.commit(10);
    expect(closes.slice(1)).toEqual([
      { leaseId: 'l2', written: CHUNK },
      { leaseId: 'l3', written: CHUNK },
      { leaseId: 'l4', written: 10 },
    ]);
  });

  it('stages an in-order chunk, and leaves staging cleanly for a write out of order or through the mapping', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const bytes = randomBytes(CHUNK);
    const reused = Buffer.alloc(10_000);
    // Staged in order from one reused buffer (as a socket reads): written in one call at commit.
    const staged = await r.openWrite(fileId, 0);
    for (let at = 0; at < CHUNK; at += reused.length) {
      const n = bytes.copy(reused, 0, at, at + reused.length);
      staged.write!(reused.subarray(0, n), at);
      reused.fill(0xee);
    }
    await staged.commit(CHUNK);
    expect(closes[0]).toEqual({ leaseId: 'l1', written: CHUNK });
    expect(readFileSync(file).subarray(0, CHUNK).equals(bytes)).toBe(true);

    // Staged, then a write out of order: the staged bytes go to the file first.
    const other = randomBytes(CHUNK);
    const jumpy = await r.openWrite(fileId, 1);
    jumpy.write!(other.subarray(0, 10_000), 0);
    jumpy.write!(other.subarray(30_000), 30_000);
    jumpy.write!(other.subarray(10_000, 30_000), 10_000);
    await jumpy.commit(CHUNK);
    expect(closes[1]).toEqual({ leaseId: 'l2', written: CHUNK });
    expect(readFileSync(file).subarray(CHUNK, 2 * CHUNK).equals(other)).toBe(true);

    // Staged, then the mapping: the staged bytes are in the file before the mapping writes the rest.
    const mixed = await r.openWrite(fileId, 0);
    mixed.write!(other.subarray(0, 5_000), 0);
    other.copy(mixed.data, 5_000, 5_000);
    await mixed.commit(CHUNK);
    expect(closes[2]).toEqual({ leaseId: 'l3', written: CHUNK });
    expect(readFileSync(file).subarray(0, CHUNK).equals(other)).toBe(true);
  });

  it('falls back to writing behind through slabs when the staging buffers are spent, with the same result', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir, undefined, { stagingBytes: CHUNK });
    const [one, two] = [randomBytes(CHUNK), randomBytes(CHUNK)];
    const first = await r.openWrite(fileId, 0); // takes the only staging buffer
    const second = await r.openWrite(fileId, 1); // gets none
    for (let at = 0; at < CHUNK; at += 8192) {
      first.write!(one.subarray(at, at + 8192), at);
      second.write!(two.subarray(at, at + 8192), at);
    }
    await Promise.all([first.commit(CHUNK), second.commit(CHUNK)]);
    expect([...closes].sort((a, b) => a.leaseId.localeCompare(b.leaseId))).toEqual([
      { leaseId: 'l1', written: CHUNK },
      { leaseId: 'l2', written: CHUNK },
    ]);
    expect(readFileSync(file).subarray(0, 2 * CHUNK).equals(Buffer.concat([one, two]))).toBe(true);
    // The buffer came back: the next chunk is staged again.
    const third = await r.openWrite(fileId, 0);
    third.write!(two, 0);
    await third.commit(CHUNK);
    expect(closes[2]).toEqual({ leaseId: 'l3', written: CHUNK });
  });

  it('a staged chunk that fails to write is given up (abandoned) and its buffer reused', async () => {
    const { store, closes } = fakeStore(() => join(dir, 'files', 'missing.bin'));
    const r = new ChunkRegions(store, dir, undefined, { stagingBytes: CHUNK });
    const w = await r.openWrite(fileId, 0);
    w.write!(randomBytes(CHUNK), 0);
    await expect(w.commit(CHUNK)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/could not write chunk 0 .*ENOENT/) });
    expect(closes).toEqual([{ leaseId: 'l1', abandon: true }]);
    const abandoned = await r.openWrite(fileId, 0);
    abandoned.write!(randomBytes(100), 0);
    await abandoned.abandon();
    expect(r.writesInFlight).toBe(0);
  });

  it('abandonAll gives every open write lease up explicitly (not a short close), so its chunk stays missing', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    await r.openWrite(fileId, 0);
    await r.openWrite(fileId, 2);
    await r.abandonAll();
    expect(closes).toEqual([
      { leaseId: 'l1', abandon: true },
      { leaseId: 'l2', abandon: true },
    ]);
    expect(r.writesInFlight).toBe(0);
  });

  it('write-path invariant: a close that vouches for bytes not written exactly once is refused, and the lease given up', async () => {
    const { store, closes } = fakeStore(() => file);
    const r = new ChunkRegions(store, dir);
    const bytes = randomBytes(CHUNK);
    const gap = await r.openWrite(fileId, 0);
    gap.write!(bytes.subarray(0, 1000), 0);
    gap.write!(bytes.subarray(2000), 2000);
    await expect(gap.commit(CHUNK)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/write-path invariant broken for chunk 0 .*: 64536 bytes were written in 2 range\(s\)/) });
    const twice = await r.openWrite(fileId, 1);
    twice.write!(bytes.subarray(0, 5000), 0);
    twice.write!(bytes.subarray(4000), 4000);
    await expect(twice.commit(CHUNK)).rejects.toMatchObject({ message: expect.stringMatching(/bytes 4000\.\.5000 were written twice/) });
    // Neither reached the store as a close that vouches for the chunk.
    expect(closes).toEqual([
      { leaseId: 'l1', abandon: true },
      { leaseId: 'l2', abandon: true },
    ]);
    // An endgame duplicate's whole chunk replaces what a cancelled request had streamed.
    const replaced = await r.openWrite(fileId, 1);
    replaced.write!(randomBytes(3000), 0);
    replaced.write!(bytes, 0);
    await replaced.commit(CHUNK);
    expect(closes[2]).toEqual({ leaseId: 'l3', written: CHUNK });
    expect(readFileSync(file).subarray(CHUNK, 2 * CHUNK).equals(bytes)).toBe(true);
    expect(r.writesInFlight).toBe(0);
  });
});
