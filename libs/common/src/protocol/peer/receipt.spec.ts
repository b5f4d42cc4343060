import { PeerConnection, RECEIPT_FEATURE } from '@swarmshare/common';
import { MemoryHandler, socketPair } from '../../../test/memory-handler';

/** RECEIPT (0x12, feature "receipt"): the downloader's ack to a holder (docs/protocol.md). */
describe('RECEIPT', () => {
  const fileId = 'ab'.repeat(32);

  it('is announced by a side whose handler takes receipts, delivered with the sender id, and answered OK', async () => {
    const pair = await socketPair();
    const got: unknown[] = [];
    const holderHandler = Object.assign(new MemoryHandler(), { receipt: async (r: unknown, from: string) => void got.push({ r, from }) });
    const holder = new PeerConnection(pair.b, { nodeId: 'holder', listen: '127.0.0.1:1', handler: holderHandler });
    const downloader = new PeerConnection(pair.a, { nodeId: 'downloader', listen: '127.0.0.1:2' });
    await Promise.all([holder.ready, downloader.ready]);
    expect(downloader.remote!.features).toContain(RECEIPT_FEATURE);
    expect(holder.remote!.features).not.toContain(RECEIPT_FEATURE);
    expect(await downloader.receipt(fileId, 1234, 2)).toBe(true);
    expect(got).toEqual([{ r: { fileId, bytes: 1234, chunks: 2 }, from: 'downloader' }]);
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
    const holder = new PeerConnection(pair.b, { nodeId: 'holder', listen: '127.0.0.1:1', handler: h });
    const downloader = new PeerConnection(pair.a, { nodeId: 'downloader', listen: '127.0.0.1:2' });
    await Promise.all([holder.ready, downloader.ready]);
    await expect(downloader.receipt(fileId, 1, 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(downloader.state).toBe('open');
    downloader.close();
    pair.close();
  });
});
