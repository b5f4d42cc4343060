import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_MAP_OFFSET, mapRegion } from './mapped-region';
import { preallocate } from './preallocate';
import { MappingRegistry } from './mapping-registry';

const K64 = 64 * 1024;

describe('MappingRegistry', () => {
  let dir: string;
  let path: string;
  const size = 5 * K64 - 100;
  const file = () => ({ fileId: 'f'.repeat(64), path, size, chunkSize: K64 });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ss-maps-'));
    path = join(dir, 'data');
    await preallocate(path, size);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('past the 2 GiB mmap-io can map, a read gets the right bytes (pread), a write is refused, never a wrapped mapping', () => {
    // A sparse 6 GiB file with a marked chunk at 4 GiB + 64 KiB: a mapping at a wrapped offset would read zeros.
    const big = join(dir, 'big');
    const at = 4 * 1024 ** 3 + K64;
    const fd = openSync(big, 'w+');
    truncateSync(big, 6 * 1024 ** 3);
    writeSync(fd, Buffer.alloc(K64, 0x5a), 0, K64, at);
    closeSync(fd);
    const f = { fileId: 'b'.repeat(64), path: big, size: 6 * 1024 ** 3, chunkSize: K64 };
    const maps = new MappingRegistry();
    expect(maps.view(f, at, K64, 'read').every((b) => b === 0x5a)).toBe(true);
    expect(maps.view(f, at - K64, K64, 'read').every((b) => b === 0)).toBe(true);
    expect(() => maps.view(f, at, K64, 'write')).toThrow(/past 2147483647, write it with pwrite/);
    expect(() => mapRegion(big, at, K64, 'read')).toThrow(/mmap-io takes file offsets up to/);
    // Below the limit mapping is unchanged.
    expect(maps.view(f, 0, K64, 'read').length).toBe(K64);
    expect(MAX_MAP_OFFSET).toBe(2 ** 31 - 1);
  });

  test('a window is a whole number of chunks, at least one', () => {
    expect(new MappingRegistry(256 * K64).windowSpan(K64)).toBe(256 * K64);
    expect(new MappingRegistry(3 * K64 + 5).windowSpan(K64)).toBe(3 * K64);
    expect(new MappingRegistry(K64).windowSpan(4 * K64)).toBe(4 * K64);
  });

  test('chunks in one window share one mapping; each window is mapped once', () => {
    const mapper = jest.fn(mapRegion);
    const maps = new MappingRegistry(2 * K64, mapper);
    for (const i of [0, 1, 0, 2, 3, 4, 4]) {
      const len = i === 4 ? size - 4 * K64 : K64;
      expect(maps.view(file(), i * K64, len, 'read').length).toBe(len);
    }
    expect(maps.size).toBe(3);
    expect(mapper.mock.calls.map((c) => [c[1], c[2]])).toEqual([
      [0, 2 * K64],
      [2 * K64, 2 * K64],
      [4 * K64, size - 4 * K64],
    ]);
  });

  test('views write through to the file (MAP_SHARED); a read mapping is upgraded for a writer', () => {
    const mapper = jest.fn(mapRegion);
    const maps = new MappingRegistry(8 * K64, mapper);
    maps.view(file(), K64, K64, 'read');
    const w = maps.view(file(), K64, K64, 'write');
    expect(mapper.mock.calls.map((c) => c[3])).toEqual(['read', 'write']);
    w.fill(0xab);
    maps.closeAll();
    const onDisk = readFileSync(path);
    expect(onDisk.subarray(K64, 2 * K64).every((b) => b === 0xab)).toBe(true);
    expect(onDisk[K64 - 1]).toBe(0);
    expect(onDisk[2 * K64]).toBe(0);
    expect(maps.size).toBe(0);
  });

  test('a region crossing a window or the end of the file is refused; an empty one maps nothing', () => {
    const mapper = jest.fn(mapRegion);
    const maps = new MappingRegistry(2 * K64, mapper);
    expect(() => maps.view(file(), K64, 2 * K64, 'read')).toThrow(RangeError);
    expect(() => maps.view(file(), 4 * K64, K64, 'read')).toThrow(RangeError);
    expect(maps.view(file(), 0, 0, 'write').length).toBe(0);
    expect(mapper).not.toHaveBeenCalled();
  });
});
