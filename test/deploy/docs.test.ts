/**
 * docs/operations.md lists every setting of every service with its real default, the endpoints and
 * the metric names; the README has its Deploy and Administration sections; every doc names only
 * paths that exist and states only the defaults the config schemas have.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import {
  CandidateSchema,
  CloseReplySchema,
  ControlSchemas,
  DownloadAckRecordSchema,
  DownloadStatusSchema,
  FileRecordSchema,
  GatewayInfoSchema,
  HaveReplySchema,
  LeaseSchema,
  ManifestSchema,
  METRIC_NAMES,
  MsgType,
  OBSERVABILITY_ROUTES,
  PeerRecordSchema,
  ReleaseReplySchema,
  ReplicateStatusSchema,
  ReservationSchema,
  ServiceConfigSchemas,
  StoreStatsSchema,
  TFileDefSchema,
} from '@swarmshare/common';
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
    for (const m of [...admin.matchAll(/node scripts\/grpc-call\.js (?:--addr \S+ --token \S+ (?:--cacert \S+ --cert \S+ --key \S+ )?)?(\w+)/g)].map((x) => x[1])) expect(['list', ...rpcs]).toContain(m);
    // NATS: the micro commands, and the settings the section points at are the tracker's real ones.
    expect(admin).toContain('nats micro ls');
    expect(admin).toContain("nats req '$SRV.INFO' ''");
    for (const name of ['swarmshare-tracker', 'swarmshare-chunk-store', 'swarmshare-peer-gateway']) expect(admin).toContain(name);
    const tracker = Object.keys((ServiceConfigSchemas.tracker as z.ZodObject).shape);
    for (const key of ['GRPC_PORT', 'GRPC_HOST', 'ADMIN_TOKEN', 'GRPC_TLS']) {
      expect(admin).toContain(`\`${key}\``);
      expect(tracker).toContain(key);
    }
  });
});

/** Every Markdown file of the repository that git tracks (docs, READMEs, folder notes). */
function markdownFiles(): string[] {
  return execFileSync('git', ['ls-files', '*.md'], { cwd: REPO, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !f.includes('node_modules/'));
}

/** File names that exist somewhere in the repository, for docs that name a file without its folder. */
const trackedFiles = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);
const trackedNames = new Set(trackedFiles.map((f) => basename(f)));
const PATH_LIKE = /^[A-Za-z0-9_.@/-]+\.(ts|js|md|json|ya?ml|sh)$|^[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)+\/?$/;

/** The repository paths a doc names in backticks: anything path-shaped, without placeholders or URLs. */
export function namedPaths(markdown: string): string[] {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/`([^`\n]+)`/g)) {
    const t = m[1].trim();
    if (!PATH_LIKE.test(t) || t.startsWith('/') || t.includes('://') || /(^|\/)dist(\/|$)/.test(t)) continue;
    // A dotted name without a folder or a file extension (NATS subjects, `a.b`) is no path.
    // Bare file names are checked for source and docs only (`manifest.json` is a data file, not ours).
    if (!t.includes('/') && !/\.(ts|js|md|sh)$/.test(t)) continue;
    // Placeholders (`DIR/cluster.json`) and Kubernetes objects (`StatefulSet/swarmshare-node`) are no paths.
    if (t.split('/').some((seg) => /^[A-Z][A-Z_]*$/.test(seg)) || /^[A-Z][A-Za-z]+\/[^.]+$/.test(t)) continue;
    out.add(t);
  }
  return [...out];
}

/** Does `path`, named in doc `doc`, exist: from the repo root, the doc's folder or its package; a bare file name anywhere. */
export function pathExists(doc: string, path: string): boolean {
  const clean = path.replace(/\/$/, '');
  if (!clean.includes('/')) return trackedNames.has(clean);
  const docDir = dirname(doc);
  const pkg = /^(services\/[^/]+|libs\/[^/]+|cli)\//.exec(doc)?.[1];
  return [REPO, join(REPO, docDir), ...(pkg ? [join(REPO, pkg)] : [])].some((base) => existsSync(join(base, clean)));
}

/** `NAME` ... default N (or default `v`) in prose, NAME a setting of some service: the value the doc states. */
export function statedDefaults(markdown: string): Array<{ key: string; stated: string }> {
  const out: Array<{ key: string; stated: string }> = [];
  for (const m of markdown.matchAll(/`([A-Z][A-Z0-9_]+)`([^`\n|]{0,80}?)\bdefault:?\s+(?:`([^`]+)`|(\d+(?: \d{3})*))/g)) {
    out.push({ key: m[1], stated: m[3] ?? m[4].replace(/ /g, '') });
  }
  return out;
}

/** Each setting's default from the config schemas (libs/common/src/config), as text; none if it has no default. */
function schemaDefaults(): Map<string, Set<string>> {
  const defaults = new Map<string, Set<string>>();
  for (const role of ROLES) {
    for (const [key, schema] of Object.entries((ServiceConfigSchemas[role] as z.ZodObject).shape as Record<string, z.ZodType>)) {
      const r = schema.safeParse(undefined);
      if (!r.success || r.data === undefined) continue;
      if (!defaults.has(key)) defaults.set(key, new Set());
      defaults.get(key)!.add(String(r.data));
    }
  }
  return defaults;
}

describe('every doc', () => {
  const docs = markdownFiles();

  it('finds the docs and the paths and defaults in them', () => {
    expect(docs).toEqual(expect.arrayContaining(['README.md', 'docs/protocol.md', 'services/peer-gateway/README.md']));
    expect(namedPaths('see `libs/common/src/config/` and `chunk-hasher.ts`, not `swarm.tracker.file.get`, `/metrics`, `DIR/cluster.json` or `Secret/x`')).toEqual([
      'libs/common/src/config/',
      'chunk-hasher.ts',
    ]);
    expect(statedDefaults('`PEER_HOST` (default `0.0.0.0`), `QUERY_DEDUPE_SIZE` (default 10 000), `SUPER_SEED_MS`, default 3000, 0 = off')).toEqual([
      { key: 'PEER_HOST', stated: '0.0.0.0' },
      { key: 'QUERY_DEDUPE_SIZE', stated: '10000' },
      { key: 'SUPER_SEED_MS', stated: '3000' },
    ]);
  });

  it('names only repository paths that exist', () => {
    const missing = docs.flatMap((doc) => namedPaths(readRepoFile(doc)).filter((p) => !pathExists(doc, p)).map((p) => `${doc}: ${p}`));
    expect(missing).toEqual([]);
  });

  it("states each setting's default as the config schema has it", () => {
    const defaults = schemaDefaults();
    const wrong = docs.flatMap((doc) =>
      statedDefaults(readRepoFile(doc))
        .filter(({ key, stated }) => defaults.has(key) && !defaults.get(key)!.has(stated))
        .map(({ key, stated }) => `${doc}: ${key} default ${stated}, the schema says ${[...defaults.get(key)!].join(' or ')}`),
    );
    expect(wrong).toEqual([]);
  });
});

describe('docs/protocol.md stands alone', () => {
  const protocol = readRepoFile('docs/protocol.md');

  /** Section 8's table: message -> the field names its rows list. */
  function documentedFields(): Map<string, string[]> {
    const section = protocol.slice(protocol.indexOf('## 8. Field types and bounds'), protocol.indexOf('## 9.'));
    const fields = new Map<string, string[]>();
    let current = '';
    for (const line of section.split('\n')) {
      const cells = line.split('|').slice(1, -1).map((c) => c.trim());
      if (cells.length !== 3 || cells[0] === 'message' || cells[0].startsWith('---')) continue;
      if (cells[0]) current = cells[0].replace(/ \(strict\)$/, '');
      fields.set(current, [...(fields.get(current) ?? []), ...[...cells[1].matchAll(/`([a-zA-Z]+)`/g)].map((m) => m[1])]);
    }
    return fields;
  }

  it("lists every field of every control message, and of the manifest, as the code's schemas have them", () => {
    const documented = documentedFields();
    const keys = (schema: unknown) => Object.keys((schema as z.ZodObject).shape).sort();
    for (const [type, schema] of Object.entries(ControlSchemas)) {
      const name = MsgType[Number(type)];
      expect({ name, fields: [...(documented.get(name) ?? [])].sort() }).toEqual({ name, fields: keys(schema) });
    }
    expect([...(documented.get('manifest') ?? [])].sort()).toEqual(keys(ManifestSchema));
  });

  it('describes every field of every NATS reply shape', () => {
    const section = protocol.slice(protocol.indexOf('## 9.'));
    const shapes: Array<[string, z.ZodObject]> = [
      ['PeerRecord', PeerRecordSchema],
      ['FileRecord', FileRecordSchema],
      ['DownloadAck', DownloadAckRecordSchema],
      ['Candidate', CandidateSchema],
      ['Reservation', ReservationSchema],
      ['Release', ReleaseReplySchema],
      ['FileDef', TFileDefSchema],
      ['Lease', LeaseSchema],
      ['CloseReply', CloseReplySchema],
      ['HaveReply', HaveReplySchema],
      ['StoreStats', StoreStatsSchema],
      ['DownloadStatus', DownloadStatusSchema],
      ['GatewayInfo', GatewayInfoSchema],
      ['ReplicateStatus', ReplicateStatusSchema],
    ];
    for (const [name, schema] of shapes) {
      const item = section.slice(section.indexOf(`* **${name}**`)).split('\n* ')[0];
      for (const key of Object.keys(schema.shape)) expect({ name, key, described: item.includes(`\`${key}\``) }).toEqual({ name, key, described: true });
    }
  });
});
