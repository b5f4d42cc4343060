import { computeFileId, type Manifest, SwarmError, type WriteRegion } from '@swarmshare/common';
import { HaveUpdates } from './have-updates';
import { LocalPeerHandler } from './local-peer-handler';
import { SuperSeeder } from './super-seed';

const CHUNK = 65536;
const hashes = ['a', 'b', 'c', 'd'].map((c) => c.repeat(64));
const manifest: Manifest = { fileId: computeFileId(4 * CHUNK, CHUNK, hashes), name: 'f.bin', size: 4 * CHUNK, chunkSize: CHUNK, hashes };

function setup(opts: { reserveFails?: boolean; corrupt?: Set<number> } = {}) {
  const reserved: unknown[] = [];
  const created: string[] = [];
  const abandoned: number[] = [];
  const store = { create: jest.fn(async (m: Manifest, _share?: string) => void created.push(m.fileId)), have: jest.fn(), manifest: jest.fn() };
  const regions = {
    openRead: jest.fn(),
    openWrite: jest.fn(
      async (_f: string, i: number): Promise<WriteRegion> => ({
        data: Buffer.alloc(CHUNK),
        commit: async () => {
          if (opts.corrupt?.delete(i)) throw new SwarmError('HASH_MISMATCH', 'bad'); // once
        },
        abandon: async () => void abandoned.push(i),
      }),
    ),
  };
  const handler = new LocalPeerHandler(store as never, regions as never, async (r) => {
    if (opts.reserveFails) throw new SwarmError('NO_SPACE', 'node b cannot reserve');
    reserved.push(r);
  });
  return { handler, reserved, created, abandoned, store };
}

describe('LocalPeerHandler: replication reservations', () => {
  it('reserves before creating the file; a refused reservation creates nothing', async () => {
    const ok = setup();
    await ok.handler.offer(manifest, { uploadId: 'up-12345678', bytes: 2 * CHUNK });
    expect(ok.reserved).toEqual([{ uploadId: 'up-12345678', bytes: 2 * CHUNK }]);
    expect(ok.created).toEqual([manifest.fileId]);
    const refused = setup({ reserveFails: true });
    await expect(refused.handler.offer(manifest, { uploadId: 'up-12345678', bytes: CHUNK })).rejects.toMatchObject({ code: 'NO_SPACE' });
    expect(refused.created).toEqual([]);
  });

  it('passes the chunks an offer places here to the store as the file\'s share; refuses chunks that are no bitfield or outweigh the reservation', async () => {
    const share = Buffer.from([0b0110_0000]).toString('base64'); // chunks 1 and 2
    const ok = setup();
    await ok.handler.offer(manifest, { uploadId: 'up-12345678', bytes: 2 * CHUNK, chunks: share });
    expect(ok.store.create).toHaveBeenCalledWith(manifest, share);
    await ok.handler.offer(manifest);
    expect(ok.store.create).toHaveBeenLastCalledWith(manifest, undefined); // a plain offer: the whole file
    const over = setup();
    await expect(over.handler.offer(manifest, { uploadId: 'up-12345678', bytes: CHUNK, chunks: share })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(over.handler.offer(manifest, { uploadId: 'up-12345678', bytes: 4 * CHUNK, chunks: Buffer.from([0xff, 0]).toString('base64') })).rejects.toThrow(/not a bitfield of the file's 4 chunks/);
    expect(over.reserved).toEqual([]);
    expect(over.created).toEqual([]);
  });

  it('refuses a STORE past the reservation; nacked and abandoned chunks give their bytes back', async () => {
    const { handler, abandoned } = setup({ corrupt: new Set([1]) });
    await handler.offer(manifest, { uploadId: 'up-12345678', bytes: 2 * CHUNK });
    await (await handler.openWrite(manifest.fileId, 0)).commit(CHUNK);
    const bad = await handler.openWrite(manifest.fileId, 1);
    await expect(bad.commit(CHUNK)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    const dropped = await handler.openWrite(manifest.fileId, 1);
    await dropped.abandon();
    await (await handler.openWrite(manifest.fileId, 2)).commit(CHUNK);
    await expect(handler.openWrite(manifest.fileId, 3)).rejects.toThrow(/past the 131072 bytes reserved/);
    expect(abandoned).toEqual([1, 3]);
    // A plain offer (anyone's) does not lift another transfer's cap; a grown reservation (re-placement) makes room.
    await handler.offer(manifest);
    await expect(handler.openWrite(manifest.fileId, 3)).rejects.toThrow(/past the 131072 bytes reserved/);
    await handler.offer(manifest, { uploadId: 'up-12345678', bytes: 3 * CHUNK });
    await (await handler.openWrite(manifest.fileId, 3)).commit(CHUNK);
  });

  it('refuses a reservation larger than the file before reserving or creating anything', async () => {
    const { handler, reserved, created } = setup();
    await expect(handler.offer(manifest, { uploadId: 'up-12345678', bytes: 50 * 1024 ** 3 })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/at most the file's size/) });
    expect(reserved).toEqual([]);
    expect(created).toEqual([]);
  });

  it('passes on receipts only from peers authenticated by peer TLS', async () => {
    const acked: string[] = [];
    const handler = new LocalPeerHandler({} as never, {} as never, undefined, async (_r, from) => void acked.push(from));
    const r = { fileId: manifest.fileId, bytes: CHUNK, chunks: 1 };
    await expect(handler.receipt!(r, 'node-x', false)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await handler.receipt!(r, 'node-y', true);
    expect(acked).toEqual(['node-y']);
  });

  it('an offer with a reservation is refused by a node that takes none', async () => {
    const handler = new LocalPeerHandler({ create: jest.fn() } as never, {} as never);
    await expect(handler.offer(manifest, { uploadId: 'up-12345678', bytes: 1 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(handler.receipt).toBeUndefined();
  });
});

describe('LocalPeerHandler: super-seeding and have-updates', () => {
  function serving() {
    const reads: number[] = [];
    const regions = {
      openRead: jest.fn(async (_f: string, i: number) => {
        if (i >= 4) throw new SwarmError('OUT_OF_RANGE', `chunk ${i} is out of range`);
        reads.push(i);
        return { data: Buffer.alloc(1), release: async () => undefined };
      }),
      openWrite: jest.fn(),
    };
    const superSeed = new SuperSeeder({ windowMs: 60_000, isComplete: async () => true });
    const haveUpdates = new HaveUpdates(1000);
    const handler = new LocalPeerHandler({ create: jest.fn(), have: jest.fn(), manifest: jest.fn(), manifestPage: jest.fn() }, regions, undefined, undefined, { superSeed, haveUpdates });
    return { handler, reads, haveUpdates };
  }

  it('refuses only a named peer (one that takes TRY_PEERS), and a failed read refuses nobody', async () => {
    const { handler, reads } = serving();
    const f = manifest.fileId;
    await (await handler.openRead(f, 0, 'node-a')).release();
    await expect(handler.openRead(f, 0, 'node-b')).rejects.toMatchObject({ code: 'TRY_PEERS' });
    await handler.openRead(f, 0); // a peer that did not announce try-peers
    await expect(handler.openRead(f, 9, 'node-a')).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(handler.openRead(f, 9, 'node-b')).rejects.toMatchObject({ code: 'OUT_OF_RANGE' }); // not TRY_PEERS
    expect(reads).toEqual([0, 0]);
  });

  it('a HAVE_REQUEST watches the file for have-updates', () => {
    const { handler, haveUpdates } = serving();
    handler.watchHave(manifest.fileId, { sendHaveUpdate: () => undefined, closed: new Promise(() => undefined) });
    expect(haveUpdates.watching(manifest.fileId)).toBe(1);
  });
});
