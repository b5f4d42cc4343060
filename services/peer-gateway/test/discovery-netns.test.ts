import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { DownloadStatusSchema, GatewayInfoSchema, type Manifest, NatsRpc, connectNats, gatewaySubjects } from '@swarmshare/common';
import { RunningService, serviceScript, type ServiceName } from '../../../test/support/services';
import { findBinary, waitForPort } from '../../../test/support/infra';
import { type Node, readBack, waitDownload, waitForBuilds } from './cluster';
import { makeFile } from '../../../libs/common/test/memory-handler';
import { seed } from './overlay-helpers';
import { testGatewayTlsEnv } from '../../../test/support/peer-tls';

const tag = randomBytes(2).toString('hex');
const subnet = `10.213.${1 + (parseInt(tag, 16) % 250)}`;
const BRIDGE = `ssbr${tag}`;
const ns = (i: number) => `ss${tag}-${i}`;
const ip = (i: number) => `${subnet}.${10 + i}`;
const HOST = `${subnet}.1`;
const N = 4;

function sh(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A bridge in the root namespace and N namespaces on it, each with its own address. */
function makeNamespaces(): void {
  try {
    sh(['link', 'add', BRIDGE, 'type', 'bridge']);
    sh(['addr', 'add', `${HOST}/24`, 'dev', BRIDGE]);
    sh(['link', 'set', BRIDGE, 'up']);
    for (let i = 0; i < N; i++) {
      const [a, b] = [`vs${tag}${i}a`, `vs${tag}${i}b`];
      sh(['netns', 'add', ns(i)]);
      sh(['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
      sh(['link', 'set', a, 'master', BRIDGE, 'up']);
      sh(['link', 'set', b, 'netns', ns(i)]);
      sh(['-n', ns(i), 'addr', 'add', `${ip(i)}/24`, 'dev', b]);
      sh(['-n', ns(i), 'link', 'set', b, 'up']);
      sh(['-n', ns(i), 'link', 'set', 'lo', 'up']);
    }
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`cannot create network namespaces for the multi-host test (needs root and iproute2 "ip netns"): ${err.stderr?.toString().trim() || err.message}`);
  }
}

function removeNamespaces(): void {
  for (let i = 0; i < N; i++) {
    try {
      sh(['netns', 'del', ns(i)]);
    } catch {
      /* not created */
    }
  }
  try {
    sh(['link', 'del', BRIDGE]);
  } catch {
    /* not created */
  }
}

/** A built service started inside namespace `i`. */
async function startIn(i: number, name: ServiceName, env: Record<string, string>, started: RunningService[]): Promise<RunningService> {
  const proc = spawn('ip', ['netns', 'exec', ns(i), process.execPath, '--expose-gc', serviceScript(name)], { env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const svc = new RunningService(name, proc);
  started.push(svc); // stopped in afterAll even if it never gets ready
  await svc.waitForLog((l) => l.event === 'ready', 30_000);
  return svc;
}

/**
 * Four nodes, each in its own network namespace with its own address, in a line
 * n0 - n1 - n2 - n3 (n3 holds the file). Nothing works over loopback here: n0 can reach n2 and n3
 * only at the addresses its neighbours list, and n3 can connect back only to n0's real address.
 */
describe('discovery across hosts: network namespaces, real addresses', () => {
  const procs: ChildProcess[] = [];
  const services: RunningService[] = [];
  const dirs: string[] = [];
  const nodes: Node[] = [];
  let rpc: NatsRpc;
  let nc: NatsConnection | undefined;
  const files = [makeFile(512 * 1024 + 5, 64 * 1024, 'ns-flood.bin'), makeFile(512 * 1024 + 9, 64 * 1024, 'ns-iter.bin')];

  beforeAll(async () => {
    await waitForBuilds();
    removeNamespaces();
    makeNamespaces();
    // NATS and Redis on the bridge address, so every namespace reaches them.
    const natsPort = 14222 + (parseInt(tag, 16) % 1000);
    const redisPort = natsPort + 1000;
    const dir = mkdtempSync(join(tmpdir(), 'ss-netns-'));
    dirs.push(dir);
    procs.push(spawn(findBinary('nats-server') ?? 'nats-server', ['-a', HOST, '-p', String(natsPort)], { stdio: 'ignore' }));
    procs.push(spawn(findBinary('redis-server') ?? 'redis-server', ['--bind', HOST, '--port', String(redisPort), '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' }));
    await waitForPort(natsPort, HOST);
    await waitForPort(redisPort, HOST);
    const NATS_URL = `nats://${HOST}:${natsPort}`;
    const REDIS_URL = `redis://${HOST}:${redisPort}`;
    nc = await connectNats(NATS_URL, 'netns-test');
    rpc = new NatsRpc(nc, 10_000);
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const id = `ns${tag}-n${i}`;
        const dataDir = mkdtempSync(join(tmpdir(), `ss-${id}-`));
        dirs.push(dataDir);
        const base = { NODE_ID: id, DATA_DIR: dataDir, NATS_URL, REDIS_URL };
        const store = await startIn(i, 'chunk-store', base, services);
        // No ADVERTISE_ADDRESS: the gateway advertises the address it is bound to.
        const gw = await startIn(i, 'peer-gateway', {
          ...base,
          // Peer mutual TLS on, as in production (certificates from the test CA).
          ...(await testGatewayTlsEnv(id)),
          PEER_HOST: ip(i),
          PEER_PORT: '7881',
          MIN_NEIGHBOURS: '0',
          LOOKUP_TIMEOUT_MS: '1500',
          ...(i < N - 1 ? { BOOTSTRAP_PEERS: `${ip(i + 1)}:7881` } : {}),
        }, services);
        const n = { id, dataDir, store, gateway: gw, address: `${ip(i)}:7881` } as unknown as Node;
        nodes[i] = n;
      }),
    );
    for (let t = 0; ; t++) {
      const infos = await Promise.all(nodes.map((n) => rpc.request(gatewaySubjects(n.id).info, {}, GatewayInfoSchema)));
      if (infos.every((x, i) => (x.neighbours ?? []).length === (i === 0 || i === N - 1 ? 1 : 2))) break;
      if (t > 100) throw new Error(`line overlay not formed: ${JSON.stringify(infos.map((x) => x.neighbours))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const f of files) await seed(nodes[N - 1], f);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await nc?.close();
    for (const p of procs) p.kill('SIGKILL');
    removeNamespaces();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('each gateway advertises its own address, and neighbour lists carry real addresses', async () => {
    for (let i = 0; i < N; i++) {
      const info = await rpc.request(gatewaySubjects(nodes[i].id).info, {}, GatewayInfoSchema);
      expect(info.address).toBe(`${ip(i)}:7881`);
      for (const n of info.neighbours ?? []) {
        expect(n.address).toMatch(new RegExp(`^${subnet.replace(/\./g, '\\.')}\\.\\d+:7881$`));
        expect(n.address).toBe(`${ip(nodes.findIndex((x) => x.id === n.nodeId))}:7881`);
      }
    }
  });

  async function fetchOn(m: Manifest, discover: 'flood' | 'iterative') {
    await rpc.request(gatewaySubjects(nodes[0].id).fetch, { fileId: m.fileId, discover }, DownloadStatusSchema);
    return waitDownload(rpc, nodes[0], m.fileId, { timeoutMs: 40_000 });
  }

  it('flood: the holder three hops away connects back to the requester at its real address', async () => {
    const s = await fetchOn(files[0].manifest, 'flood');
    expect({ state: s.state, error: s.error }).toEqual({ state: 'complete', error: undefined });
    expect(s.discovery?.holders.map((h) => [h.nodeId, h.address, h.via])).toEqual([[nodes[3].id, `${ip(3)}:7881`, 'flood']]);
    expect(s.fromPeers[nodes[3].id]).toBe(files[0].manifest.size);
    expect((await readBack(nodes[0], files[0].manifest)).equals(files[0].data)).toBe(true);
  });

  it('iterative: the requester reaches ring 2 and 3 through the addresses its neighbours listed', async () => {
    const s = await fetchOn(files[1].manifest, 'iterative');
    expect({ state: s.state, error: s.error }).toEqual({ state: 'complete', error: undefined });
    expect(s.discovery?.holders.map((h) => [h.nodeId, h.address, h.via])).toEqual([[nodes[3].id, `${ip(3)}:7881`, 'iterative']]);
    expect((await readBack(nodes[0], files[1].manifest)).equals(files[1].data)).toBe(true);
  });
});
