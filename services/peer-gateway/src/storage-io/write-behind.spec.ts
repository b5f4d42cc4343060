import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PendingWrites, WriteBehind } from './write-behind';

describe('WriteBehind', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pg-wb-'));
    path = join(dir, 'data');
    writeFileSync(path, Buffer.alloc(1 << 20));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every slice at its offset although the caller reuses its buffer at once', async () => {
    const wb = new WriteBehind(64 * 1024, 4);
    const pending = new PendingWrites();
    const fd = openSync(path, 'r+');
    const expected = randomBytes(1 << 20);
    const reused = Buffer.alloc(40_000);
    for (let at = 0; at < expected.length; at += reused.length) {
      const n = expected.copy(reused, 0, at, at + reused.length);
      wb.write(fd, reused.subarray(0, n), at, pending);
      reused.fill(0xee); // the next socket read
    }
    await pending.drained();
    closeSync(fd);
    expect(pending.error).toBeUndefined();
    expect(readFileSync(path).equals(expected)).toBe(true);
    expect(wb.freeSlabs).toBe(4); // every slab came back
  });

  it('writes synchronously when every slab is busy or the slice is larger than a slab', async () => {
    const wb = new WriteBehind(1024, 1);
    const pending = new PendingWrites();
    const fd = openSync(path, 'r+');
    const a = Buffer.alloc(1000, 1);
    const b = Buffer.alloc(1000, 2);
    const big = Buffer.alloc(5000, 3);
    wb.write(fd, a, 0, pending); // takes the only slab
    wb.write(fd, b, 1000, pending); // none free: written before write() returns
    expect(readFileSync(path).subarray(1000, 2000).equals(b)).toBe(true);
    wb.write(fd, big, 2000, pending);
    expect(readFileSync(path).subarray(2000, 7000).equals(big)).toBe(true);
    await pending.drained();
    closeSync(fd);
    expect(readFileSync(path).subarray(0, 1000).equals(a)).toBe(true);
  });

  it('reports a failed write through PendingWrites, and gives the slab back', async () => {
    const wb = new WriteBehind(1024, 2);
    const pending = new PendingWrites();
    const fd = openSync(path, 'r'); // read-only: the write fails on the thread pool
    wb.write(fd, Buffer.alloc(100, 9), 0, pending);
    await pending.drained();
    closeSync(fd);
    expect(pending.error).toMatchObject({ code: 'EBADF' });
    expect(wb.freeSlabs).toBe(2);
  });
});
