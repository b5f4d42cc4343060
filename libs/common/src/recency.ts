/**
 * Small bounded caches as plain Maps and Sets, which keep insertion order: the newest key is last,
 * so the oldest is the first key. One helper for the many "remember the last N files" places.
 */

/** Put `key` last (newest) with `value`, then drop the oldest entry past `max`; returns the dropped key. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): K | undefined {
  map.delete(key);
  map.set(key, value);
  return dropOldest(map, max);
}

/** Put `key` last (newest), then drop the oldest key past `max`; returns the dropped key. */
export function addNewest<K>(set: Set<K>, key: K, max: number): K | undefined {
  set.delete(key);
  set.add(key);
  return dropOldest(set, max);
}

function dropOldest<K>(c: Map<K, unknown> | Set<K>, max: number): K | undefined {
  if (c.size <= max) return undefined;
  const oldest = c.keys().next().value as K;
  c.delete(oldest);
  return oldest;
}
