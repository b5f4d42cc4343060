/**
 * docs/operations.md lists every setting of every service with its real default, the endpoints and
 * the metric names; the README has its Deploy and Administration sections.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { METRIC_NAMES, OBSERVABILITY_ROUTES, ServiceConfigSchemas } from '@swarmshare/common';
import { readRepoFile, type Role, ROLES } from './deploy-model';
import { REPO } from './helpers';

const ops = readRepoFile('docs/operations.md');

/** The rows (variable -> default cell) of the first table after the heading that starts with `### <title>`. */
function settingsTable(title: string): Map<string, string> {
  const start = ops.split('\n').findIndex((l) => l.startsWith(`### ${title}`));
  if (start < 0) throw new Error(`docs/operations.md has no "### ${title}" section`);
  const rows = new Map<string, string>();
  let inTable = false;
  for (const line of ops.split('\n').slice(start + 1)) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const m = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[0]);
    if (m) rows.set(m[1], cells[1]);
  }
  return rows;
}

/** How the docs write a schema key's default. */
function documentedDefault(schema: z.ZodType): string {
  const r = schema.safeParse(undefined);
  if (!r.success) return 'required';
  if (r.data === undefined) return '(unset)';
  return `\`${String(r.data)}\``;
}

describe('docs/operations.md', () => {
  it.each(ROLES)('lists every setting of %s, and nothing else, with its real default', (role: Role) => {
    const shape = (ServiceConfigSchemas[role] as z.ZodObject).shape as Record<string, z.ZodType>;
    const rows = settingsTable(role);
    expect([...rows.keys()].sort()).toEqual(Object.keys(shape).sort());
    for (const [key, schema] of Object.entries(shape)) expect({ key, default: rows.get(key) }).toEqual({ key, default: documentedDefault(schema) });
  });

  it('lists the settings common to all services with their defaults', () => {
    const rows = settingsTable('Common to all three services');
    const common = ROLES.map((r) => Object.keys((ServiceConfigSchemas[r] as z.ZodObject).shape)).reduce((a, b) => a.filter((k) => b.includes(k)));
    expect([...rows.keys()].sort()).toEqual(common.sort());
    const shape = (ServiceConfigSchemas.tracker as z.ZodObject).shape as Record<string, z.ZodType>;
    for (const key of common) expect({ key, default: rows.get(key) }).toEqual({ key, default: documentedDefault(shape[key]) });
  });

  it('documents every route and every metric', () => {
    for (const route of Object.values(OBSERVABILITY_ROUTES)) expect(ops).toContain(`\`GET ${route}\``);
    for (const name of Object.values(METRIC_NAMES)) expect(ops).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });
});

describe('README.md', () => {
  const readme = readRepoFile('README.md');
  const deploy = readme.slice(readme.indexOf('\n## Deploy\n'));

  it('has a Deploy section with the compose quick start, the Kubernetes apply, scaling and the metrics', () => {
    expect(readme).toContain('\n## Deploy\n');
    expect(deploy).toContain('docker compose up -d');
    expect(deploy).toContain('docker compose run --rm cli share /data/');
    expect(deploy).toContain('docker compose run --rm cli fetch <ID>');
    expect(deploy).toContain('kubectl apply -k k8s/');
    expect(deploy).toMatch(/scale\s+deployment\/swarmshare-tracker/);
    expect(deploy).toMatch(/scale statefulset\/swarmshare-node/);
    expect(deploy).toContain('/metrics');
  });

  it('has an Administration section: the gRPC API with a generic client, and the NATS services API', () => {
    expect(readme).toContain('\n## Administration\n');
    const admin = readme.slice(readme.indexOf('\n## Administration\n'), readme.indexOf('\n## ', readme.indexOf('\n## Administration\n') + 5));
    const proto = readRepoFile('libs/common/proto/swarmshare/admin/v1/admin.proto');
    const pkg = /^package ([\w.]+);$/m.exec(proto)![1];
    const rpcs = [...proto.matchAll(/^\s*rpc (\w+)\(/gm)].map((m) => m[1]);
    // Every method of the service is named, and every grpcurl call names a real one.
    for (const rpc of rpcs) expect(admin).toContain(`\`${rpc}\``);
    const called = [...admin.matchAll(new RegExp(`${pkg.replace(/\./g, '\\.')}\\.Admin/(\\w+)`, 'g'))].map((m) => m[1]);
    expect(called.length).toBeGreaterThan(0);
    for (const c of called) expect(rpcs).toContain(c);
    expect(admin).toContain('authorization: Bearer');
    expect(admin).toContain('grpc.health.v1.Health/Check');
    // The reflection-only script exists and is shown with methods it can call.
    expect(existsSync(join(REPO, 'scripts', 'grpc-call.js'))).toBe(true);
    for (const m of [...admin.matchAll(/node scripts\/grpc-call\.js (?:--addr \S+ --token \S+ )?(\w+)/g)].map((x) => x[1])) expect(['list', ...rpcs]).toContain(m);
    // NATS: the micro commands, and the settings the section points at are the tracker's real ones.
    expect(admin).toContain('nats micro ls');
    expect(admin).toContain("nats req '$SRV.INFO' ''");
    for (const name of ['swarmshare-tracker', 'swarmshare-chunk-store', 'swarmshare-peer-gateway']) expect(admin).toContain(name);
    const tracker = Object.keys((ServiceConfigSchemas.tracker as z.ZodObject).shape);
    for (const key of ['GRPC_PORT', 'GRPC_HOST', 'ADMIN_TOKEN']) {
      expect(admin).toContain(`\`${key}\``);
      expect(tracker).toContain(key);
    }
  });
});
