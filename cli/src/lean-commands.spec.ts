import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Commands a user runs against a swarm load neither Nest nor the services' code: each `fetch` once
 * paid ~0.5 s of CPU compiling @nestjs because one import took the `@swarmshare/common` barrel
 * (issue 16: CLI start-up and CPU per GiB). Checked on the built CLI, as `npx swarmshare` runs it.
 */
const DIST = join(__dirname, '..', 'dist');
const COMMANDS = ['commands/fetch', 'commands/share', 'commands/views', 'commands/pin', 'commands/preheat', 'commands/rm', 'commands/gc', 'commands/neighbours', 'context', 'peer-tls'];

describe('the CLI stays lean', () => {
  it.each(COMMANDS)('%s loads no @nestjs module and not the libs/common barrel', (mod) => {
    const loaded = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(DIST, mod))}); console.log(JSON.stringify(Object.keys(require.cache)))`]).toString();
    const files: string[] = JSON.parse(loaded);
    expect(files.length).toBeGreaterThan(1);
    expect(files.filter((f) => f.includes('/@nestjs/'))).toEqual([]);
    expect(files.filter((f) => /libs\/common\/dist\/index\.js$/.test(f))).toEqual([]);
  });

  it('loads none of zod\'s locales, and zod still speaks English', () => {
    const script = `require(${JSON.stringify(join(DIST, 'lean-zod'))}).skipZodLocales();
      const z = require('zod');
      const r = z.object({ id: z.string().regex(/^x$/, 'id must be x') }).safeParse({ id: 1 });
      console.log(JSON.stringify({ files: Object.keys(require.cache).filter((f) => f.includes('/zod/v4/locales/')), message: r.error.issues[0].message }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..') }).toString()) as { files: string[]; message: string };
    // Only English, which zod loads on its own; the locales index is the empty module put in its place.
    expect(out.files.map((f) => f.replace(/.*\/zod\/v4\/locales\//, ''))).toEqual(['index.cjs', 'en.cjs']);
    expect(out.message).toBe('Invalid input: expected string, received number');
  });
});
