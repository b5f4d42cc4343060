import Module from 'node:module';

/**
 * zod's CommonJS build requires all of its ~60 locales when it loads (`z.locales`): two thirds of
 * zod's files and about 60 ms of CPU on this machine, a sixth of `swarmshare ls`. The CLI never
 * uses them; zod loads the English messages it does use on its own (`locales/en`). So the locales
 * index is put in the module cache as an empty module before zod loads (docs/performance.md,
 * "Start-up"). Nothing happens if zod is laid out differently (a later version): it then loads as is.
 */
export function skipZodLocales(): void {
  let path: string;
  try {
    path = require.resolve('zod/v4/locales');
  } catch {
    return;
  }
  if (require.cache[path]) return;
  const empty = new Module(path);
  empty.filename = path;
  empty.loaded = true;
  empty.exports = {};
  require.cache[path] = empty;
}
