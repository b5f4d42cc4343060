import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Reply } from '@swarmshare/common';
import Redis from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import type { z } from 'zod';
import { type RunningService, startService } from '../../../test/support/services';

const ROOT = join(__dirname, '..', '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** The integration tests run the built dist/main.js; rebuild it (and libs/common) when a source is newer. */
export function ensureBuilt(): void {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const [pkg, entry] of [
    ['libs/common', 'dist/index.js'],
    ['services/tracker', 'dist/main.js'],
  ]) {
    const out = join(ROOT, pkg, entry);
    if (!existsSync(out) || statSync(out).mtimeMs < newestMtime(join(ROOT, pkg, 'src'))) {
      execFileSync(process.execPath, [tsc, '-p', join(ROOT, pkg, 'tsconfig.build.json')], { stdio: 'inherit' });
    }
  }
}

/** The test Redis, on a database of its own so each test file can flush without touching others. */
export function redisUrl(db: number): string {
  const u = new URL(process.env.REDIS_URL!);
  u.pathname = `/${db}`;
  return u.toString();
}

export function natsUrl(): string {
  return process.env.NATS_URL!;
}

export function startTracker(db: number, extra: Record<string, string> = {}, opts: { waitReady?: boolean } = {}): Promise<RunningService> {
  return startService('tracker', { NATS_URL: natsUrl(), REDIS_URL: redisUrl(db), LOG_LEVEL: 'info', ...extra }, opts);
}

export function rawNats(): Promise<NatsConnection> {
  return connect({ servers: natsUrl(), name: 'tracker-test' });
}

export function rawRedis(db: number): Redis {
  return new Redis(redisUrl(db), { lazyConnect: false });
}

/** Empty a test file's Redis database (and let go of the connection). */
export async function flushDb(db: number): Promise<void> {
  const redis = rawRedis(db);
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

/** A request with the raw nats client: bytes in, the parsed reply envelope out. */
export async function requestBytes(nc: NatsConnection, subject: string, body: Uint8Array, timeout = 5000): Promise<Reply<unknown>> {
  const msg = await nc.request(subject, body, { timeout });
  return JSON.parse(Buffer.from(msg.data).toString('utf8')) as Reply<unknown>;
}

export function request(nc: NatsConnection, subject: string, body: unknown, timeout = 5000): Promise<Reply<unknown>> {
  return requestBytes(nc, subject, Buffer.from(JSON.stringify(body)), timeout);
}

/** Expect an ok reply whose result matches the contract schema. */
export async function ok<S extends z.ZodType>(nc: NatsConnection, subject: string, body: unknown, schema: S): Promise<z.infer<S>> {
  const reply = await request(nc, subject, body);
  if (!reply.ok) throw new Error(`${subject} failed: ${reply.error.code} ${reply.error.message}`);
  return schema.parse(reply.result);
}

export async function failure(nc: NatsConnection, subject: string, body: unknown): Promise<{ code: string; message: string }> {
  const reply = await request(nc, subject, body);
  if (reply.ok) throw new Error(`${subject} succeeded but should have failed: ${JSON.stringify(reply.result)}`);
  return reply.error;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retry `check` until it stops throwing (events are asynchronous). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

export const hex64 = () => randomBytes(32).toString('hex');
export const nodeId = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}`;

/** A valid registerFile body for a `size`-byte file in 64 KiB chunks. */
export function fileBody(node: string, name: string, size = 200_000) {
  const chunkSize = 65536;
  return { fileId: hex64(), name, size, chunkSize, chunkCount: Math.ceil(size / chunkSize), hash: hex64(), nodeId: node };
}

let nextPort = 20000 + Math.floor(Math.random() * 20000);
const ports = new Map<string, number>();
/** An announce body; each node keeps one address of its own. */
export function announceBody(node: string, free: number, complete: string[] = [], partial: string[] = []) {
  if (!ports.has(node)) ports.set(node, nextPort++);
  return { nodeId: node, address: addressOf(node), capacity: 1_000_000, free, complete, partial };
}
export function addressOf(node: string): string {
  if (!ports.has(node)) ports.set(node, nextPort++);
  return `127.0.0.1:${ports.get(node)}`;
}
