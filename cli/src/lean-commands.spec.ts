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
});
