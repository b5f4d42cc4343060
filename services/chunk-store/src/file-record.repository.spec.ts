import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeFileId, type Manifest, sha256Hex } from '@swarmshare/common';
import { atomicWrite, CorruptRecordError, FileRecordRepository } from './file-record.repository';

const K64 = 64 * 1024;

function manifest(size: number, name = 'f.bin'): Manifest {
  const data = Buffer.alloc(size, 7);
  const hashes: string[] = [];
  for (let o = 0; o < size; o += K64) hashes.push(sha256Hex(data.subarray(o, o + K64)));
  return { fileId: computeFileId(size, K64, hashes), name, size, chunkSize: K64, hashes };
}

describe('FileRecordRepository', () => {
  let dir: string;
  let repo: FileRecordRepository;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ss-records-'));
    repo = new FileRecordRepository(dir);
    await repo.init();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('create lays out files/<id>/{data,manifest.json,bitmap} with a preallocated data file', async () => {
    const m = manifest(10 * K64 + 3);
    await repo.create(m);
    expect(readdirSync(repo.dir(m.fileId)).sort()).toEqual(['bitmap', 'data', 'manifest.json']);
    expect(statSync(repo.dataPath(m.fileId)).size).toBe(m.size);
    // Blocks are reserved, not a sparse hole: a full disk fails here, not as a SIGBUS later.
    expect(statSync(repo.dataPath(m.fileId)).blocks * 512).toBeGreaterThanOrEqual(m.size);
    expect(readFileSync(repo.bitmapPath(m.fileId))).toEqual(Buffer.alloc(2));
    const rec = await repo.load(m.fileId);
    expect(rec?.manifest).toEqual(m);
    expect(rec?.bits.count()).toBe(0);
    expect(await repo.listIds()).toEqual([m.fileId]);
  });

  test('a pin is a marker next to the manifest: load reports it, unpin removes it, and it goes with the file', async () => {
    const m = manifest(3 * K64);
    await repo.create(m);
    expect((await repo.load(m.fileId))?.pinned).toBe(false);
    await repo.setPinned(m.fileId, true);
    await repo.setPinned(m.fileId, true); // idempotent
    expect(readdirSync(repo.dir(m.fileId)).sort()).toEqual(['bitmap', 'data', 'manifest.json', 'pinned']);
    // A fresh repository (a restarted store) reads it from the disk.
    expect((await new FileRecordRepository(dir).load(m.fileId))?.pinned).toBe(true);
    await repo.setPinned(m.fileId, false);
    await repo.setPinned(m.fileId, false);
    expect((await repo.load(m.fileId))?.pinned).toBe(false);
    await repo.setPinned(m.fileId, true);
    await repo.remove(m.fileId);
    expect(await repo.isPinned(m.fileId)).toBe(false);
  });

  test('setBit persists one bit and reports whether it changed and the whole bitfield', async () => {
    const m = manifest(9 * K64);
    await repo.create(m);
    const a = await repo.setBit(m.fileId, 8, 9);
    expect(a.changed).toBe(true);
    expect(a.bits.indexes()).toEqual([8]);
    expect([...readFileSync(repo.bitmapPath(m.fileId))]).toEqual([0, 0x80]);
    const b = await repo.setBit(m.fileId, 8, 9);
    expect(b.changed).toBe(false);
    for (let i = 0; i < 8; i++) await repo.setBit(m.fileId, i, 9);
    expect((await repo.load(m.fileId))?.bits.isComplete()).toBe(true);
  });

  test('load: no record is null; each kind of damage is a CorruptRecordError', async () => {
    const m = manifest(2 * K64);
    expect(await repo.load(m.fileId)).toBeNull();
    await repo.create(m);
    const damage = async (what: () => void, reason: RegExp) => {
      what();
      const err = await repo.load(m.fileId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptRecordError);
      expect((err as Error).message).toMatch(reason);
      await repo.create(m); // repair for the next case (create is safe to repeat)
    };
    await damage(() => writeFileSync(repo.manifestPath(m.fileId), '{'), /not JSON/);
    await damage(() => writeFileSync(repo.manifestPath(m.fileId), JSON.stringify({ ...m, name: '../x' })), /schema/);
    await damage(() => writeFileSync(repo.manifestPath(m.fileId), JSON.stringify({ ...m, size: m.size - 1 })), /hash to its file id/);
    await damage(() => writeFileSync(repo.bitmapPath(m.fileId), Buffer.alloc(3)), /bitmap/);
    await damage(() => writeFileSync(repo.bitmapPath(m.fileId), Buffer.from([0x3f])), /bitmap/);
    await damage(() => writeFileSync(repo.dataPath(m.fileId), Buffer.alloc(10)), /data file has 10 bytes/);
    await expect(repo.load('not-an-id')).rejects.toBeInstanceOf(CorruptRecordError);
  });

  test('a failed create leaves nothing behind', async () => {
    const m = manifest(K64);
    // A directory where the data file should be makes preallocation fail.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(repo.dataPath(m.fileId), { recursive: true });
    await expect(repo.create(m)).rejects.toThrow();
    expect(await repo.listIds()).toEqual([]);
  });

  test('atomicWrite replaces the content and leaves no temporary file', async () => {
    const p = join(dir, 'x.json');
    await atomicWrite(p, Buffer.from('one'));
    await atomicWrite(p, Buffer.from('two'));
    expect(readFileSync(p, 'utf8')).toBe('two');
    expect(readdirSync(dir).filter((n) => n.startsWith('x.json'))).toEqual(['x.json']);
  });
});
