import { RedisKeys } from './redis-keys';

/** Redis Cluster hashes only the part between the first "{" and the next "}". */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('RedisKeys', () => {
  test('every key of a node carries the node hash tag, so they share one cluster slot', () => {
    const k = new RedisKeys('node-1');
    const fileId = 'a'.repeat(64);
    const all = [k.files(), k.file(fileId), k.hashes(fileId), k.bits(fileId), k.lease('L1'), k.lock(fileId, 7), k.indexed()];
    expect(new Set(all.map(hashTag))).toEqual(new Set(['node:node-1']));
    expect(new Set(all).size).toBe(all.length);
    expect(k.lock(fileId, 7)).toBe(`ss:{node:node-1}:lock:${fileId}:7`);
  });

  test('two nodes never share a key', () => {
    const a = new RedisKeys('a');
    const b = new RedisKeys('b');
    expect(a.files()).not.toBe(b.files());
    expect(hashTag(a.indexed())).not.toBe(hashTag(b.indexed()));
  });
});
