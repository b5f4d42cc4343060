import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  FactPublisher,
  FactSubjects,
  factId,
  SwarmError,
  type Announce,
  type AnnounceReply,
  AnnounceReplySchema,
  type Candidate,
  CandidateSchema,
  type DownloadAcked,
  type DownloadCompleted,
  FileRecordSchema,
  type FileRecord,
  type NatsRpc,
  type RegisterFile,
  ReservationSchema,
  TrackerSubjects,
} from '@swarmshare/common';

/**
 * The tracker, over NATS. Acks carry nothing this gateway needs, so their bodies are not checked.
 *
 * Facts that change the registry (a download completed, a holder's ack, a replicated upload's
 * placements) go by request, so the caller sees them applied at once; when no tracker takes the
 * request (none running, or it timed out), the same body is published to the JetStream facts stream
 * and a tracker applies it when one comes back (docs/architecture.md "Events, facts and soft state").
 */
export class TrackerClient {
  constructor(
    private readonly rpc: NatsRpc,
    private readonly facts?: FactPublisher,
  ) {}

  /** The reply lists the announced files the tracker has no record of (see AnnounceReplySchema). */
  announce(a: Announce): Promise<AnnounceReply> {
    return this.rpc.request(TrackerSubjects.announce, a, AnnounceReplySchema);
  }

  getFile(fileId: string): Promise<FileRecord> {
    return this.rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
  }

  async downloadStarted(fileId: string, nodeId: string): Promise<void> {
    await this.rpc.request(TrackerSubjects.downloadStarted, { fileId, nodeId }, z.unknown());
  }

  /** The download ended without completing (failed or cancelled): no longer a leecher. */
  async downloadStopped(fileId: string, nodeId: string): Promise<void> {
    await this.rpc.request(TrackerSubjects.downloadStopped, { fileId, nodeId }, z.unknown());
  }

  /** This node (`reporter`) could not reach holder `nodeId`: the tracker hides it until it announces again. */
  async peerUnreachable(nodeId: string, reporter: string): Promise<void> {
    await this.rpc.request(TrackerSubjects.peerUnreachable, { nodeId, reporter }, z.unknown());
  }

  async downloadCompleted(body: DownloadCompleted): Promise<void> {
    await this.requestOrFact(TrackerSubjects.downloadCompleted, FactSubjects.downloadCompleted, body, [body.fileId, body.nodeId, randomUUID()]);
  }

  // ---- replication (issue 3) ----

  /** Live peers with room, most available first. */
  candidates(exclude: string[] = []): Promise<Candidate[]> {
    return this.rpc.request(TrackerSubjects.peerCandidates, { exclude }, z.array(CandidateSchema));
  }

  /** Reserve space on this node for an upload (NO_SPACE if it does not fit). */
  async reserve(uploadId: string, nodeId: string, bytes: number): Promise<void> {
    await this.rpc.request(TrackerSubjects.reserve, { uploadId, nodeId, bytes }, ReservationSchema);
  }

  async release(uploadId: string): Promise<void> {
    await this.rpc.request(TrackerSubjects.release, { uploadId }, z.unknown());
  }

  /** Download ack: this holder served `bytes` of the file to downloader `nodeId`. */
  async downloadAcked(a: DownloadAcked): Promise<void> {
    await this.requestOrFact(TrackerSubjects.downloadAcked, FactSubjects.downloadAcked, a, [a.fileId, a.nodeId, a.holder, randomUUID()]);
  }

  /** A replicated upload finished: register the file with its replica holders. */
  async replicationFinished(r: RegisterFile, uploadId: string): Promise<void> {
    await this.requestOrFact(TrackerSubjects.registerFile, FactSubjects.replicationFinished, r, [r.fileId, uploadId]);
  }

  registerFile(r: RegisterFile): Promise<FileRecord> {
    return this.rpc.request(TrackerSubjects.registerFile, r, FileRecordSchema);
  }

  /**
   * Request; if no tracker takes it, publish the body as a fact (its id minted once per report, so a
   * republish is stored once) and resolve once the stream has stored it. A tracker's refusal
   * (NOT_FOUND, CONFLICT, ...) is not retried that way: it would be refused again.
   */
  private async requestOrFact(subject: string, factSubject: (typeof FactSubjects)[keyof typeof FactSubjects], body: object, idParts: string[]): Promise<void> {
    try {
      await this.rpc.request(subject, body, z.unknown());
    } catch (e) {
      if (!this.facts || !trackerAway(e)) throw e;
      await this.facts.publish(factSubject, body, factId(factSubject, ...idParts)).catch((pe: unknown) => {
        throw new SwarmError('UNAVAILABLE', `${(e as Error).message}; and the facts stream did not take it either (${(pe as Error).message})`);
      });
    }
  }
}

/** No tracker answered (none is running or connected) or none answered in time: a fact will reach one later. */
function trackerAway(e: unknown): boolean {
  return e instanceof SwarmError && (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT');
}
