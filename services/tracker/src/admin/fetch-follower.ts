import { type DownloadStatus, SwarmError, toErrorBody } from '@swarmshare/common';
import { Observable } from 'rxjs';

/** Where a download's states come from: the node's gateway, over NATS. */
export interface DownloadSource {
  /** Start (or join) the download; resolves with its first state. */
  start(): Promise<DownloadStatus>;
  /** The state now (events may be lost, so it is polled too). */
  status(): Promise<DownloadStatus>;
  /** Follow progress events; returns the unsubscribe. */
  events(onState: (s: DownloadStatus) => void): () => void;
}

/** The reader's side of the stream: whether it is full, and when it drains. */
export interface StreamSink {
  blocked(): boolean;
  /** Call `cb` whenever the sink drains; returns the unsubscribe. */
  onDrain(cb: () => void): () => void;
}

export interface FollowOptions {
  nodeId: string;
  pollMs: number;
  /** No new state for this long ends the stream with TIMEOUT (a stuck node must not hold a stream forever). */
  idleTimeoutMs: number;
}

const terminal = (s: DownloadStatus) => s.state === 'complete' || s.state === 'failed';

/**
 * A download's progress as an Observable that respects the reader's backpressure: while the sink is
 * full, only the newest state is kept (one, replaced), and it is sent when the sink drains. A slow
 * reader therefore sees fewer, fresher states and the server's memory per stream stays bounded;
 * the final state is always delivered. A failed download, or a node that stops answering, ends the
 * stream with an error; unsubscribing (the client cancelled) stops polling and listening at once.
 * Cancelling does not stop the download on the node.
 */
export function followDownload(source: DownloadSource, sink: StreamSink, opts: FollowOptions): Observable<DownloadStatus> {
  return new Observable<DownloadStatus>((subscriber) => {
    let done = false;
    let pending: DownloadStatus | undefined;
    let last: DownloadStatus | undefined;
    let poll: NodeJS.Timeout | undefined;
    let idle: NodeJS.Timeout | undefined;

    const fail = (err: unknown) => {
      if (done) return;
      done = true;
      subscriber.error(err);
    };
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(new SwarmError('TIMEOUT', `download of ${last?.fileId ?? 'the file'} on node ${opts.nodeId} made no progress for ${opts.idleTimeoutMs} ms`)), opts.idleTimeoutMs);
    };
    const send = (s: DownloadStatus) => {
      last = s;
      subscriber.next(s);
      if (s.state === 'complete') {
        done = true;
        subscriber.complete();
      } else if (s.state === 'failed') {
        fail(new SwarmError('UNAVAILABLE', `download failed on node ${opts.nodeId}: ${s.error ?? 'unknown reason'}`));
      }
    };
    const offer = (s: DownloadStatus) => {
      if (done || !isNewer(s, pending ?? last)) return;
      resetIdle();
      if (sink.blocked()) pending = s;
      else send(s);
    };
    const offDrain = sink.onDrain(() => {
      if (done || !pending) return;
      const s = pending;
      pending = undefined;
      send(s);
    });
    const offEvents = source.events(offer);
    resetIdle();
    source.start().then(
      (s) => {
        offer(s);
        if (done) return;
        poll = setInterval(() => {
          source.status().then(offer, (e: unknown) => {
            // A slow reply is tolerated (the next poll may answer); anything else ends the stream.
            if (!(e instanceof SwarmError && e.code === 'TIMEOUT')) fail(e);
          });
        }, opts.pollMs);
      },
      (e: unknown) => fail(e instanceof SwarmError ? e : new SwarmError('UNAVAILABLE', toErrorBody(e).message)),
    );
    return () => {
      done = true;
      clearInterval(poll);
      clearTimeout(idle);
      offEvents();
      offDrain();
    };
  });
}

/** Later than what was sent (or is waiting): a state change, or more chunks; never a step back. */
function isNewer(s: DownloadStatus, than: DownloadStatus | undefined): boolean {
  if (!than) return true;
  if (terminal(than)) return false;
  if (terminal(s)) return true;
  return s.chunksDone > than.chunksDone || (s.chunksDone === than.chunksDone && s.state !== than.state && s.state === 'running');
}
