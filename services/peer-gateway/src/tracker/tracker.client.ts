import { z } from 'zod';
import {
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

/** The tracker, over NATS. Acks carry nothing this gateway needs, so their bodies are not checked. */
export class TrackerClient {
  constructor(private readonly rpc: NatsRpc) {}

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
    await this.rpc.request(TrackerSubjects.downloadCompleted, body, z.unknown());
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
    await this.rpc.request(TrackerSubjects.downloadAcked, a, z.unknown());
  }

  registerFile(r: RegisterFile): Promise<FileRecord> {
    return this.rpc.request(TrackerSubjects.registerFile, r, FileRecordSchema);
  }
}
