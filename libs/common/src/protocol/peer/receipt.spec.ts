import { PeerConnection, RECEIPT_FEATURE } from '@swarmshare/common';
import { MemoryHandler, makeFile, socketPair } from '../../../test/memory-handler';

/** RECEIPT (0x12, feature "receipt"): the downloader's ack to a holder (docs/protocol.md). */
describe('RECEIPT', () => {
  const file = makeFile(2 * 64 * 1024 + 7);
  const fileId = file.manifest.fileId;
  /** The downloader gets `chunks` chunks from the holder first: a receipt may ack only what was served. */
  async function download(downloader: PeerConnection, chunks: number): Promise<number> {
    let bytes = 0;
    for (let i = 0; i < chunks; i++) bytes += await downloader.requestChunk(fileId, i, Buffer.alloc(file.chunk(i).length));
    return bytes;
  }

  it('is announced by a side whose handler takes receipts, delivered with the sender id, and answered OK', async () => {
    const pair = await socketPair();
    const got: unknown[] = [];
    const holderHandler = Object.assign(new MemoryHandler(), { receipt: async (r: unknown, from: string, authenticated: boolean) => void got.push({ r, from, authenticated }) });
    holderHandler.add(file.manifest, file.data);
    const holder = new PeerConnection(pair.b, { nodeId: 'holder', listen: '127.0.0.1:1', handler: holderHandler });
    const downloader = new PeerConnection(pair.a, { nodeId: 'downloader', listen: '127.0.0.1:2' });
    await Promise.all([holder.ready, downloader.ready]);
    expect(downloader.remote!.features).toContain(RECEIPT_FEATURE);
    expect(holder.remote!.features).not.toContain(RECEIPT_FEATURE);
    const served = await download(downloader, 2);
    expect(await downloader.receipt(fileId, served, 2)).toBe(true);
    // Not over TLS: the handler hears that the sender's id is only claimed.
    expect(got).toEqual([{ r: { fileId, bytes: served, chunks: 2 }, from: 'downloader', authenticated: false }]);
    // The other way round nothing is sent: the downloader did not announce the feature.
    expect(await holder.receipt(fileId, 1, 1)).toBe(false);
    downloader.close();
    pair.close();
  });

  it('carries the holder error back (e.g. the tracker refused the ack) without closing the connection', async () => {
    const pair = await socketPair();
    const h = Object.assign(new MemoryHandler(), {
      receipt: async () => {
        throw Object.assign(new Error('no file with id ... is registered'), { code: 'NOT_FOUND' });
      },
    });
    h.add(file.manifest, file.data);
    const holder = new PeerConnection(pair.b, { nodeId: 'holder', listen: '127.0.0.1:1', handler: h });
    const downloader = new PeerConnection(pair.a, { nodeId: 'downloader', listen: '127.0.0.1:2' });
    await Promise.all([holder.ready, downloader.ready]);
    await download(downloader, 1);
    await expect(downloader.receipt(fileId, 1, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(downloader.state).toBe('open');
    downloader.close();
    pair.close();
  });

  it('refuses a receipt for more than this connection served the peer, without telling the handler', async () => {
    const pair = await socketPair();
    const got: unknown[] = [];
    const h = Object.assign(new MemoryHandler(), { receipt: async (r: unknown) => void got.push(r) });
    h.add(file.manifest, file.data);
    const holder = new PeerConnection(pair.b, { nodeId: 'holder', listen: '127.0.0.1:1', handler: h });
    const downloader = new PeerConnection(pair.a, { nodeId: 'downloader', listen: '127.0.0.1:2' });
    await Promise.all([holder.ready, downloader.ready]);
    // Served nothing: a forged ack of 10x the file is refused.
    await expect(downloader.receipt(fileId, 10 * file.manifest.size, 3)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/this connection served 0/) });
    const served = await download(downloader, 1);
    await expect(downloader.receipt(fileId, served + 1, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // What was served is acked once, not twice.
    expect(await downloader.receipt(fileId, served, 1)).toBe(true);
    await expect(downloader.receipt(fileId, served, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(got).toHaveLength(1);
    downloader.close();
    pair.close();
  });
});
