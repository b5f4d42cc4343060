/**
 * The Dockerfile, .dockerignore and the image's two scripts. No image is built here (no Docker
 * engine on our machines): the structure is checked, the entry point and health check script run
 * for real against the built services, and the production dependencies are shown to cover every
 * module the built code loads.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import * as ts from 'typescript';
import { HealthRegistry, Metrics, ObservabilityHttpServer, OBSERVABILITY_ROUTES, trackerEnv } from '@swarmshare/common';
import { freePort } from '../support/infra';
import { RunningService } from '../support/services';
import { readRepoFile } from './deploy-model';
import { httpGet, REPO, requireBuilt, waitFor } from './helpers';

const dockerfile = readRepoFile('Dockerfile');
const rootPkg = JSON.parse(readRepoFile('package.json')) as { workspaces: string[]; dependencies?: Record<string, string> };

/** Stage name -> its lines (instructions joined across `\` continuations). */
function stages(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let current = '';
  const lines = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const m = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (m) {
      current = m[2];
      out[current] = [line];
    } else if (current) out[current].push(line);
  }
  return out;
}

/** Run docker/healthcheck.js as the container would (async: the server under test may be in this process). */
function runHealthcheck(path: string, httpPort: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO, 'docker', 'healthcheck.js'), path], { env: { PATH: process.env.PATH, HTTP_PORT: httpPort }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, out });
    });
  });
}

describe('Dockerfile', () => {
  const s = stages();

  it('builds in stages from node:20-bookworm-slim: build, production dependencies, runtime last', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(Object.keys(s)).toEqual(['build', 'prod-deps', 'runtime']);
    for (const lines of Object.values(s)) expect(lines[0]).toMatch(/^FROM \$\{NODE_IMAGE\} AS /);
  });

  it('compiles the native mmap addon and every workspace in the build stage', () => {
    const build = s.build.join('\n');
    expect(build).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(build).toMatch(/^RUN npm ci /m);
    expect(build).toMatch(/^RUN npm run build$/m);
    for (const ws of rootPkg.workspaces) expect(build).toContain(`COPY ${ws}/package.json ${ws}/`);
    expect(build.indexOf('RUN npm ci')).toBeLessThan(build.indexOf('COPY services services'));
  });

  it('installs production dependencies only, with the addon built and loadable', () => {
    const deps = s['prod-deps'].join('\n');
    expect(deps).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(deps).toMatch(/npm ci --omit=dev/);
    expect(deps).toContain(`node -e "require('@riaskov/mmap-io')"`);
    for (const ws of rootPkg.workspaces) expect(deps).toContain(`COPY ${ws}/package.json ${ws}/`);
  });

  it('runs as a non-root user with tini, util-linux (fallocate), every workspace\'s build, and a node health check', () => {
    const rt = s.runtime.join('\n');
    expect(rt).toMatch(/apt-get install -y --no-install-recommends tini util-linux/);
    expect(rt).toMatch(/command -v fallocate/);
    expect(rt).not.toMatch(/g\+\+|python3|npm ci|npm install/);
    expect(rt).toContain('COPY --from=prod-deps /app/node_modules ./node_modules');
    for (const ws of rootPkg.workspaces) {
      expect(rt).toContain(`COPY --from=build /app/${ws}/package.json ${ws}/`);
      expect(rt).toContain(`COPY --from=build /app/${ws}/dist ${ws}/dist`);
    }
    const user = s.runtime.findIndex((l) => /^USER /.test(l));
    expect(s.runtime[user]).toBe('USER 1000:1000');
    expect(user).toBeGreaterThan(s.runtime.findIndex((l) => /chown 1000:1000 \/data \/out/.test(l)));
    const hc = s.runtime.find((l) => l.startsWith('HEALTHCHECK'))!;
    const cmd = JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()) as string[];
    expect(cmd.slice(0, 2)).toEqual(['node', '/app/docker/healthcheck.js']);
    expect(cmd[2]).toBe(OBSERVABILITY_ROUTES.liveness);
    expect(s.runtime).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]');
    expect(rt).toMatch(/HTTP_PORT=8080/);
  });

  it('keeps node_modules, builds, data, logs and .git out of the build context', () => {
    const ignore = readRepoFile('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['**/node_modules', '**/dist', '.git', '.swarmshare', 'data', 'logs', '**/*.log']) expect(ignore).toContain(entry);
  });

  it('ships production dependencies that cover every module the services, the library and the CLI load', () => {
    const prod = new Set<string>(Object.keys(rootPkg.dependencies ?? {}));
    const wsNames = new Set<string>();
    for (const ws of rootPkg.workspaces) {
      const pkg = JSON.parse(readRepoFile(`${ws}/package.json`)) as { name: string; dependencies?: Record<string, string> };
      wsNames.add(pkg.name);
      for (const d of Object.keys(pkg.dependencies ?? {})) prod.add(d);
    }
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    let scanned = 0;
    for (const ws of rootPkg.workspaces) {
      for (const file of sourceFiles(join(REPO, ws, 'src'))) {
        scanned++;
        for (const spec of runtimeImports(file)) {
          if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec.split('/')[0])) continue;
          const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          if (!prod.has(pkg) && !wsNames.has(pkg)) missing.push(`${relative(REPO, file)}: ${pkg}`);
        }
      }
    }
    expect(scanned).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });
});

describe('docker/entrypoint.sh and docker/healthcheck.js', () => {
  it('healthcheck.js exits 0 on 200 and 1 on 503, on no listener, and on HTTP_PORT=0', async () => {
    const health = new HealthRegistry();
    const server = new ObservabilityHttpServer(health, new Metrics({ defaultMetrics: false }));
    const port = await server.listen(0);
    try {
      expect((await runHealthcheck('/healthz', String(port))).status).toBe(0);
      expect((await runHealthcheck('/readyz', String(port))).status).toBe(0);
      health.register('redis', () => false);
      const unready = await runHealthcheck('/readyz', String(port));
      expect(unready.status).toBe(1);
      expect(unready.out).toMatch(/GET \/readyz -> 503 .*"failing":\["redis"\]/);
      expect((await runHealthcheck('/nope', String(port))).status).toBe(1);
    } finally {
      await server.close();
    }
    const refused = await runHealthcheck('/healthz', String(port));
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/ECONNREFUSED/);
    const off = await runHealthcheck('/healthz', '0');
    expect(off.status).toBe(1);
    expect(off.out).toMatch(/HTTP_PORT="0" serves no health endpoint/);
  });

  it('entrypoint.sh starts a service by name (the tracker here), which the health check then passes', async () => {
    requireBuilt('services/tracker/dist/main.js');
    const natsUrl = process.env.NATS_URL;
    const redisUrl = process.env.REDIS_URL;
    if (!natsUrl || !redisUrl) throw new Error('NATS_URL / REDIS_URL are not set: test/support/global-setup.ts should have started them');
    const port = await freePort();
    const proc = spawn('sh', [join(REPO, 'docker', 'entrypoint.sh'), 'tracker'], {
      env: { PATH: process.env.PATH, ...trackerEnv({ natsUrl, redisUrl }, { HTTP_PORT: String(port), LOG_LEVEL: 'info' }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const svc = new RunningService('tracker', proc);
    try {
      const ready = await svc.waitForLog((l) => l.event === 'ready');
      expect(ready.httpPort).toBe(port);
      expect(ready.pid).toBe(proc.pid); // exec: the shell became node, so signals reach the service
      await waitFor('readyz', () => httpGet(port, OBSERVABILITY_ROUTES.readiness), (r) => r.status === 200);
      expect((await runHealthcheck('/healthz', String(port))).status).toBe(0);
      expect((await runHealthcheck('/readyz', String(port))).status).toBe(0);
    } finally {
      await svc.stop('SIGTERM', 20000);
    }
    expect((await svc.exited).signal).not.toBe('SIGKILL');
  });

  it('entrypoint.sh runs the CLI for "cli"', () => {
    requireBuilt('cli/dist/main.js');
    const r = spawnSync('sh', [join(REPO, 'docker', 'entrypoint.sh'), 'cli', '--help'], { encoding: 'utf8', timeout: 20000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: swarmshare/);
    expect(r.stdout).toMatch(/share \[options\] <file>/);
  });
});

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !/\.(spec|test)\.ts$/.test(name)) out.push(p);
  }
  return out;
}

/** Module specifiers a file loads at run time (type-only imports are erased by tsc, so skipped). */
function runtimeImports(file: string): string[] {
  const src = ts.createSourceFile(file, ts.sys.readFile(file) ?? '', ts.ScriptTarget.ES2022, true);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name && clause.namedBindings !== undefined && ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) {
      specs.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0])) {
      const callee = node.expression;
      if ((ts.isIdentifier(callee) && callee.text === 'require') || callee.kind === ts.SyntaxKind.ImportKeyword) specs.push((node.arguments[0] as ts.StringLiteral).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return specs;
}
