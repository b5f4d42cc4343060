import { randomBytes } from 'node:crypto';

/** A password for a generated NATS or Redis user: 192 random bits, URL-safe. */
export function newPassword(): string {
  return randomBytes(24).toString('hex');
}

/** `url` with a user's credentials in it: `nats://user:pass@host:port`, `redis://user:pass@host:port`. */
export function urlWithCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString().replace(/\/$/, '');
}
