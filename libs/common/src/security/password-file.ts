import { readFileSync } from 'node:fs';
import { urlWithCredentials } from './credentials';

/*
 * Passwords kept in files (compose volumes, Kubernetes Secrets) rather than in the environment: the
 * URL names the user, NATS_PASSWORD_FILE / REDIS_PASSWORD_FILE hold the password (issue 11).
 * No zod here: the CLI loads this through the lean `@swarmshare/common/nats-client` entry point.
 */

/** `password` put into each URL of a comma-separated list; each must name a user and hold no password. */
export function urlsWithPassword(list: string, password: string): string {
  const urls = list.split(',').map((u) => new URL(u.trim()));
  const bad = urls.find((u) => !u.username || u.password);
  if (bad) throw new Error(`each URL names the user and no password (e.g. tls://tracker@host:4222); got one ${bad.password ? 'with a password' : 'without a user'}`);
  return urls.map((u) => urlWithCredentials(u.toString(), decodeURIComponent(u.username), password)).join(',');
}

/** The one password a password file holds (trimmed), or an error saying what is wrong with it. */
export function readPasswordFile(path: string): string {
  const password = readFileSync(path, 'utf8').trim();
  if (!password || /\s/.test(password)) throw new Error(`${path} must hold one password (no spaces), and holds ${password ? 'several words' : 'nothing'}`);
  return password;
}
