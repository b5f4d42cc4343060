import { Bitfield, type Candidate, chunkLength, computeFileId, type Manifest, PeerClosedError, type PeerConnection, PeerRequestError, sha256Hex } from '@swarmshare/common';
import { ReplicationJob, type ReplicatorOptions, ReplicationsService } from './replicator';

const CHUNK = 65536;

function makeManifest(chunks: number): Manifest {
  const size = chunks * CHUNK;
  const hashes = Array.from({ length: chunks }, (_, i) => sha256Hex(Buffer.alloc(CHUNK, i)));
  return { fileId: computeFileId(size, CHUNK, hashes), name: 'f.bin', size, chunkSize: CHUNK, hashes };
}

type Behaviour = {
  /** Reject the offer with this code. */
  refuse?: string;
  /** Nack (HASH_MISMATCH) these chunk indexes once each. */
  nackOnce?: Set<number>;
  /** Never answer STOREs. */
  hang?: boolean;
  /** Close the connection after this many acked chunks. */
  dieAfter?: number;
};

/** A fake receiving peer: records offers (with their reservations) and stored chunks. */
class FakePeer {
  offers: Array<{ uploadId: string; bytes: number } | undefined> = [];
  stored = new Set<number>();
  sends = new Map<number, number>();
  closed = false;
  /** Died mid-upload (its copies are lost). */
  dead = false;
  constructor(readonly b: Behaviour = {}) {}
  conn(): PeerConnection {
    return {
      offer: async (_m: Manifest, r?: { uploadId: string; bytes: number }) => {
        this.offers.push(r);
        if (this.b.refuse) throw new PeerRequestError(this.b.refuse, `refused: ${this.b.refuse}`);
      },
      store: async (_f: string, index: number) => {
        this.sends.set(index, (this.sends.get(index) ?? 0) + 1);
        if (this.closed) throw new PeerClosedError('closed');
        if (this.b.hang) return new Promise(() => undefined);
        if (this.b.nackOnce?.has(index)) {
          this.b.nackOnce.delete(index);
          throw new PeerRequestError('HASH_MISMATCH', `chunk ${index} does not match`);
        }
        if (this.b.dieAfter !== undefined && this.stored.size >= this.b.dieAfter) {
          this.closed = true;
          this.dead = true;
          throw new PeerClosedError('connection closed by peer');
        }
        this.stored.add(index);
      },
      close: () => {
        this.closed = true;
      },
    } as unknown as PeerConnection;
  }
}

function setup(peers: Record<string, FakePeer>, manifest: Manifest, opts: Partial<ReplicatorOptions> = {}) {
  const candidates = (): Candidate[] =>
    Object.keys(peers).map((nodeId) => ({ nodeId, address: `127.0.0.1:${1000 + nodeId.charCodeAt(0)}`, capacity: 1e9, free: 1e9, reserved: 0, available: 1e9 }));
  const released: string[] = [];
  const registered: unknown[] = [];
  const o: ReplicatorOptions = {
    nodeId: 'a',
    store: {
      manifest: async () => manifest,
      have: async () => ({ fileId: manifest.fileId, chunkCount: manifest.hashes.length, present: manifest.hashes.length, bitfield: '' }),
    },
    regions: { openRead: async (_f, i) => ({ data: Buffer.alloc(chunkLength(manifest.size, CHUNK, i)), release: async () => undefined }) },
    tracker: {
      candidates: async (exclude = []) => candidates().filter((c) => !exclude.includes(c.nodeId)),
      release: async (u) => void released.push(u),
      replicationFinished: async (r) => void registered.push(r),
    },
    connect: async (address, nodeId) => peers[nodeId].conn(),
    chunkTimeoutMs: 200,
    storesInFlight: 2,
    maxResends: 2,
    ...opts,
  };
  return { o, released, registered };
}

/** Copies per chunk across the active fakes. */
const copies = (peers: FakePeer[], n: number) => Array.from({ length: n }, (_, i) => peers.filter((p) => !p.dead && p.stored.has(i)).length);

describe('ReplicationJob', () => {
  const m = makeManifest(12);
  const hash = 'e'.repeat(64);
  const all = (peers: Record<string, FakePeer>) => Object.keys(peers).map((nodeId) => ({ nodeId, bytes: 1e9 }));

  it('pushes N copies with a reservation in each offer, resends a nacked chunk, registers the holders and releases', async () => {
    const peers = { b: new FakePeer({ nackOnce: new Set([0, 3]) }), c: new FakePeer(), d: new FakePeer() };
    const { o, released, registered } = setup(peers, m);
    const job = new ReplicationJob({ fileId: m.fileId, hash, replicas: 2, allocation: all(peers), replace: true }, o);
    await job.prepare();
    await job.start();
    expect(job.status.state).toBe('complete');
    expect(copies(Object.values(peers), 12)).toEqual(new Array(12).fill(2));
    expect(peers.b.sends.get(0)).toBe(2);
    // Each offer reserves the chunks placed on the peer and names them, so it allocates only those.
    for (const p of Object.values(peers)) {
      const placed = new Bitfield(12);
      for (const i of p.stored) placed.set(i);
      expect(p.offers[0]).toEqual({ uploadId: job.uploadId, bytes: p.stored.size * CHUNK, chunks: placed.toBase64() });
    }
    expect(registered).toEqual([expect.objectContaining({ fileId: m.fileId, hash, nodeId: 'a', holders: ['b', 'c', 'd'], replicas: 2 })]);
    expect(released).toEqual([job.uploadId]);
    expect(job.status).toMatchObject({ copiesAcked: 24, copiesNeeded: 24, bytesSent: 24 * CHUNK });
  });

  it('registers the share\'s TTL (share --ttl) with the holders, and none when the request has none', async () => {
    const peers = { b: new FakePeer(), c: new FakePeer() };
    const { o, registered } = setup(peers, m);
    const job = new ReplicationJob({ fileId: m.fileId, hash, replicas: 1, allocation: all(peers), replace: true, ttlMs: 86_400_000 }, o);
    await job.prepare();
    await job.start();
    expect(registered).toEqual([expect.objectContaining({ fileId: m.fileId, nodeId: 'a', ttlMs: 86_400_000 })]);
    const plain = setup({ b: new FakePeer() }, m);
    const job2 = new ReplicationJob({ fileId: m.fileId, hash, replicas: 1, allocation: [{ nodeId: 'b', bytes: 1e9 }], replace: true }, plain.o);
    await job2.prepare();
    await job2.start();
    expect(plain.registered[0]).not.toHaveProperty('ttlMs');
  });

  it('re-places the share of a peer that refuses, dies mid-upload or times out', async () => {
    for (const bad of [{ refuse: 'NO_SPACE' }, { dieAfter: 1 }, { hang: true }] as Behaviour[]) {
      const peers = { b: new FakePeer(bad), c: new FakePeer(), d: new FakePeer(), e: new FakePeer() };
      const { o, released, registered } = setup(peers, m);
      const job = new ReplicationJob({ fileId: m.fileId, hash, replicas: 2, allocation: all(peers), replace: true }, o);
      await job.prepare();
      await job.start();
      expect(job.status.state).toBe('complete');
      expect(copies([peers.c, peers.d, peers.e], 12)).toEqual(new Array(12).fill(2));
      expect(job.status.peers.find((p) => p.nodeId === 'b')).toMatchObject({ state: 'dropped', reason: expect.any(String) });
      expect((registered[0] as { holders: string[] }).holders).toEqual(['c', 'd', 'e']);
      // A grown share is offered again with the larger reservation.
      const grown = [peers.c, peers.d, peers.e].filter((p) => p.offers.length > 1);
      expect(grown.length).toBeGreaterThan(0);
      for (const p of grown) expect(p.offers[p.offers.length - 1]!.bytes).toBe(p.stored.size * CHUNK);
      expect(released).toEqual([job.uploadId]);
    }
  });

  it('fails with a report of what was placed where, registers nothing and releases everything when no peer has room', async () => {
    const peers = { b: new FakePeer(), c: new FakePeer({ dieAfter: 2 }) };
    const { o, released, registered } = setup(peers, m);
    const job = new ReplicationJob({ fileId: m.fileId, hash, replicas: 2, allocation: all(peers), replace: true }, o);
    await job.prepare();
    await job.start();
    expect(job.status.state).toBe('failed');
    expect(job.status.error).toMatch(/no peer has room for the copies the dropped peer\(s\) c held.*Placed: b 12 chunk\(s\) 768 KiB; c 2 chunk\(s\) .* \(dropped: .*\); 12 of 24 copies acked; every reservation released; the file is not registered/);
    expect(registered).toEqual([]);
    expect(released).toEqual([job.uploadId]);
  });

  it('refuses before any byte moves: file not whole here, the seeder in the allocation, too little room', async () => {
    const peers = { b: new FakePeer(), c: new FakePeer() };
    const partial = setup(peers, m, {
      store: { manifest: async () => m, have: async () => ({ fileId: m.fileId, chunkCount: 12, present: 5, bitfield: '' }) },
    });
    await expect(new ReplicationJob({ fileId: m.fileId, hash, replicas: 1, allocation: all(peers), replace: true }, partial.o).prepare()).rejects.toThrow(/holds only 5 of the 12 chunks/);
    const { o } = setup(peers, m);
    await expect(new ReplicationJob({ fileId: m.fileId, hash, replicas: 1, allocation: [{ nodeId: 'a', bytes: 1 }], replace: true }, o).prepare()).rejects.toThrow(/names the seeder's own node a/);
    await expect(new ReplicationJob({ fileId: m.fileId, hash, replicas: 3, allocation: all(peers), replace: true }, o).prepare()).rejects.toThrow(/cannot hold 3 copies/);
    expect(peers.b.offers).toEqual([]);
    const svc = new ReplicationsService((req) => new ReplicationJob(req, o));
    expect(() => svc.status('up-nosuchupload')).toThrow(/no replicated upload up-nosuchupload/);
  });

  it('ReplicationsService forgets a finished upload FINISHED_JOB_TTL_MS after it ended (injected clock)', async () => {
    let t = 0;
    const peers = { b: new FakePeer() };
    const { o } = setup(peers, m, {
      onProgress: (_s, final) => {
        if (final) finished();
      },
    });
    let finished!: () => void;
    const ended = new Promise<void>((r) => (finished = r));
    const svc = new ReplicationsService((req) => new ReplicationJob(req, o), { maxFinished: 10, ttlMs: 5000 }, () => t);
    const { uploadId } = await svc.replicate({ fileId: m.fileId, hash, replicas: 1, allocation: all(peers), replace: true });
    await ended;
    await new Promise((r) => setImmediate(r));
    t += 4999;
    expect(svc.status(uploadId).state).toBe('complete');
    t += 1;
    expect(() => svc.status(uploadId)).toThrow(/no replicated upload/);
  });
});
