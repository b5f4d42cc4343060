import { EventEmitter } from 'node:events';
import { type DownloadStatus, SwarmError } from '@swarmshare/common';
import { type DownloadSource, followDownload, type StreamSink } from './fetch-follower';

const FILE = 'f'.repeat(64);
const state = (chunksDone: number, s: DownloadStatus['state'] = 'running', error?: string): DownloadStatus => ({
  fileId: FILE,
  state: s,
  chunkCount: 10,
  chunksDone,
  bytesDone: chunksDone * 100,
  size: 1000,
  fromPeers: {},
  ...(error ? { error } : {}),
});

/** A download driven by the test: it pushes events and decides what status() answers. */
class ScriptedDownload implements DownloadSource {
  listener?: (s: DownloadStatus) => void;
  now: DownloadStatus | Error = state(0, 'queued');
  unsubscribed = false;
  start = () => Promise.resolve(state(0, 'queued'));
  status = () => (this.now instanceof Error ? Promise.reject(this.now) : Promise.resolve(this.now));
  events(cb: (s: DownloadStatus) => void) {
    this.listener = cb;
    return () => {
      this.unsubscribed = true;
    };
  }
}

/** A sink the test fills and drains, as a gRPC call's writable side does. */
class Sink extends EventEmitter implements StreamSink {
  full = false;
  blocked = () => this.full;
  onDrain(cb: () => void) {
    this.on('drain', cb);
    return () => this.off('drain', cb);
  }
  drain() {
    this.full = false;
    this.emit('drain');
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const opts = { nodeId: 'b', pollMs: 10_000, idleTimeoutMs: 60_000 };

describe('followDownload', () => {
  it('sends each newer state once and completes with the download', async () => {
    const src = new ScriptedDownload();
    const seen: DownloadStatus[] = [];
    let completed = false;
    followDownload(src, new Sink(), opts).subscribe({ next: (s) => seen.push(s), complete: () => (completed = true) });
    await tick();
    src.listener!(state(3));
    src.listener!(state(3));
    src.listener!(state(2));
    src.listener!(state(10, 'complete'));
    expect(seen.map((s) => [s.state, s.chunksDone])).toEqual([
      ['queued', 0],
      ['running', 3],
      ['complete', 10],
    ]);
    expect(completed).toBe(true);
    expect(src.unsubscribed).toBe(true);
  });

  it('keeps only the newest state while the reader is full, and delivers the final state after the drain', async () => {
    const src = new ScriptedDownload();
    const sink = new Sink();
    const seen: DownloadStatus[] = [];
    let completed = false;
    followDownload(src, sink, opts).subscribe({ next: (s) => seen.push(s), complete: () => (completed = true) });
    await tick();
    sink.full = true;
    for (let i = 1; i < 10; i++) src.listener!(state(i));
    src.listener!(state(10, 'complete'));
    expect(seen).toHaveLength(1);
    expect(completed).toBe(false);
    sink.drain();
    expect(seen.map((s) => [s.state, s.chunksDone])).toEqual([
      ['queued', 0],
      ['complete', 10],
    ]);
    expect(completed).toBe(true);
  });

  it('ends with an error when the download fails or the node stops answering, and stops on unsubscribe', async () => {
    const failed = new ScriptedDownload();
    const errors: unknown[] = [];
    followDownload(failed, new Sink(), opts).subscribe({ error: (e) => errors.push(e) });
    await tick();
    failed.listener!(state(4, 'failed', 'no holder has chunk 5'));
    expect(errors[0]).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('no holder has chunk 5') });

    const gone = new ScriptedDownload();
    gone.now = new SwarmError('UNAVAILABLE', 'nothing answers on swarm.node.b.gateway.status');
    const goneErrors: unknown[] = [];
    followDownload(gone, new Sink(), { ...opts, pollMs: 5 }).subscribe({ error: (e) => goneErrors.push(e) });
    await new Promise((r) => setTimeout(r, 50));
    expect(goneErrors).toHaveLength(1);
    expect(gone.unsubscribed).toBe(true);

    const cancelled = new ScriptedDownload();
    const sub = followDownload(cancelled, new Sink(), opts).subscribe();
    sub.unsubscribe();
    expect(cancelled.unsubscribed).toBe(true);
  });

  it('ends with TIMEOUT when nothing changes for idleTimeoutMs', async () => {
    const src = new ScriptedDownload();
    const errors: unknown[] = [];
    followDownload(src, new Sink(), { ...opts, idleTimeoutMs: 30 }).subscribe({ error: (e) => errors.push(e) });
    await new Promise((r) => setTimeout(r, 80));
    expect(errors[0]).toMatchObject({ code: 'TIMEOUT' });
  });
});
