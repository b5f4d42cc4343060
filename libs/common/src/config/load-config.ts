import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { parseSize } from '../sizes';
import { readPasswordFile, urlsWithPassword } from '../security/password-file';

/** Thrown at start-up when the environment is wrong; main.ts prints it and exits 1. */
export class ConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration for ${service}:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix the environment variables above (see docs/operations.md) and start again.`);
    this.name = 'ConfigError';
  }
}

/** Validate `env` against a schema whose keys are environment variable names. */
export function loadConfig<S extends z.ZodObject>(service: string, schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    // An empty variable means "unset", as in docker-compose's `FOO=`.
    if (v !== undefined && v !== '') input[key] = v;
  }
  const r = schema.safeParse(input);
  if (!r.success) {
    throw new ConfigError(
      service,
      r.error.issues.map((i) => {
        const key = String(i.path[0] ?? '');
        const got = env[key];
        return `${key}: ${i.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ''}`;
      }),
    );
  }
  return withPasswordFiles(service, r.data as Record<string, unknown>) as z.infer<S>;
}

/**
 * A password kept in a file (a Docker volume or Kubernetes Secret), not in the environment:
 * `NATS_PASSWORD_FILE` goes into every server of `NATS_URL`, `REDIS_PASSWORD_FILE` into `REDIS_URL`.
 * The URL names the user (`tls://tracker@nats:4222`) and holds no password itself.
 */
const PASSWORD_FILES = [
  { url: 'NATS_URL', file: 'NATS_PASSWORD_FILE' },
  { url: 'REDIS_URL', file: 'REDIS_PASSWORD_FILE' },
] as const;

function withPasswordFiles(service: string, cfg: Record<string, unknown>): Record<string, unknown> {
  const problems: string[] = [];
  for (const { url, file } of PASSWORD_FILES) {
    const path = cfg[file];
    if (typeof path !== 'string' || typeof cfg[url] !== 'string') continue;
    let password: string;
    try {
      password = readPasswordFile(path);
    } catch (e) {
      problems.push(`${file}: ${(e as Error).message}`);
      continue;
    }
    try {
      cfg[url] = urlsWithPassword(cfg[url] as string, password);
    } catch (e) {
      problems.push(`${url}: with ${file} set, ${(e as Error).message}`);
    }
  }
  if (problems.length) throw new ConfigError(service, problems);
  return cfg;
}

// ---- building blocks for env schemas ----
export const envInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

export const envSize = (min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.string().transform((s, ctx) => {
    try {
      const n = parseSize(s);
      if (n < min) ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes` });
      if (n > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max} bytes` });
      return n;
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

export const envUrl = (protocols: string[]) =>
  z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol.replace(/:$/, ''));
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}`);

/** A file the service must read at start-up (a CA certificate): a missing one is a start-up error, not a failed handshake later. */
export const envReadableFile = z.string().refine((p) => {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}, 'must be the path of a readable file');

/** NATS accepts a comma-separated list of servers for a cluster. */
export const envNatsUrls = z
  .string()
  .refine((s) => s.split(',').every((u) => /^(nats|tls|ws|wss):\/\/[^\s,]+$/.test(u.trim())), 'must be nats://host:port (comma-separated for a cluster)');

export const envLogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
