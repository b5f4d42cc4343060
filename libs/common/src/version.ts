import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The release every service reports (libs/common's package version: the workspaces move together). */
export const SWARMSHARE_VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
