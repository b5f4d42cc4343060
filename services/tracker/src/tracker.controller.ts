import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  AnnounceSchema,
  DownloadCompletedSchema,
  DownloadStartedSchema,
  PeerUnreachableSchema,
  EmptyRequestSchema,
  FileIdRequestSchema,
  type FileRecord,
  FindFileSchema,
  parseOrThrow,
  type PeerRecord,
  type AnnounceReply,
  RegisterFileSchema,
  TrackerSubjects,
  type Candidate,
  CandidatesRequestSchema,
  ReleaseRequestSchema,
  type Reservation,
  ReserveRequestSchema,
  DownloadAckedSchema,
  type DeleteFileReply,
  DeleteFileRequestSchema,
} from '@swarmshare/common';
import { FileDeletionService } from './deletion/file-deletion.service';
import { TrackerService } from './tracker.service';
import { PreheatService } from './preheat/preheat.service';

/**
 * NATS subjects -> TrackerService. Bodies are plain JSON (see PlainJsonDeserializer) and validated
 * here; a failure is thrown as BAD_REQUEST and leaves as an {"ok":false,...} reply, never a timeout.
 */
@Controller()
export class TrackerController {
  constructor(
    private readonly tracker: TrackerService,
    private readonly deletion: FileDeletionService,
    private readonly preheat: PreheatService,
  ) {}

  /** Operators only (`swarm.tracker.admin.>`): see docs/operations.md, "Who may delete". */
  @MessagePattern(TrackerSubjects.deleteFile)
  deleteFile(@Payload() data: unknown): Promise<DeleteFileReply> {
    return this.deletion.delete(parseOrThrow(DeleteFileRequestSchema, data, 'deleteFile'));
  }

  @MessagePattern(TrackerSubjects.announce)
  async announce(@Payload() data: unknown): Promise<AnnounceReply> {
    const a = parseOrThrow(AnnounceSchema, data, 'announce');
    const reply = await this.tracker.announce(a);
    // A node back from being down gets the preheats it missed (never fails the announce).
    await this.preheat.nodeAnnounced(a.nodeId);
    return reply;
  }

  @MessagePattern(TrackerSubjects.registerFile)
  registerFile(@Payload() data: unknown): Promise<FileRecord> {
    return this.tracker.registerFile(parseOrThrow(RegisterFileSchema, data, 'registerFile'));
  }

  @MessagePattern(TrackerSubjects.getFile)
  getFile(@Payload() data: unknown): Promise<FileRecord> {
    return this.tracker.getFile(parseOrThrow(FileIdRequestSchema, data, 'getFile').fileId);
  }

  @MessagePattern(TrackerSubjects.findFile)
  findFile(@Payload() data: unknown): Promise<FileRecord[]> {
    return this.tracker.findFile(parseOrThrow(FindFileSchema, data, 'findFile').name);
  }

  @MessagePattern(TrackerSubjects.listFiles)
  listFiles(@Payload() data: unknown): Promise<FileRecord[]> {
    parseOrThrow(EmptyRequestSchema, data, 'listFiles');
    return this.tracker.listFiles();
  }

  @MessagePattern(TrackerSubjects.listPeers)
  listPeers(@Payload() data: unknown): Promise<PeerRecord[]> {
    parseOrThrow(EmptyRequestSchema, data, 'listPeers');
    return this.tracker.listPeers();
  }

  @MessagePattern(TrackerSubjects.downloadStopped)
  downloadStopped(@Payload() data: unknown): Promise<FileRecord> {
    const { fileId, nodeId } = parseOrThrow(DownloadStartedSchema, data, 'downloadStopped');
    return this.tracker.downloadStopped(fileId, nodeId);
  }

  @MessagePattern(TrackerSubjects.peerUnreachable)
  peerUnreachable(@Payload() data: unknown) {
    return this.tracker.peerUnreachable(parseOrThrow(PeerUnreachableSchema, data, 'peerUnreachable'));
  }

  @MessagePattern(TrackerSubjects.downloadStarted)
  downloadStarted(@Payload() data: unknown): Promise<FileRecord> {
    const { fileId, nodeId } = parseOrThrow(DownloadStartedSchema, data, 'downloadStarted');
    return this.tracker.downloadStarted(fileId, nodeId);
  }

  @MessagePattern(TrackerSubjects.downloadCompleted)
  downloadCompleted(@Payload() data: unknown): Promise<FileRecord> {
    return this.tracker.downloadCompleted(parseOrThrow(DownloadCompletedSchema, data, 'downloadCompleted'));
  }

  @MessagePattern(TrackerSubjects.downloadAcked)
  downloadAcked(@Payload() data: unknown): Promise<FileRecord> {
    return this.tracker.downloadAcked(parseOrThrow(DownloadAckedSchema, data, 'downloadAcked'));
  }

  @MessagePattern(TrackerSubjects.downloadAcks)
  downloadAcks(@Payload() data: unknown): Promise<Array<{ nodeId: string; holder: string; bytes: number }>> {
    return this.tracker.servedBy(parseOrThrow(FileIdRequestSchema, data, 'downloadAcks').fileId);
  }

  @MessagePattern(TrackerSubjects.peerCandidates)
  peerCandidates(@Payload() data: unknown): Promise<Candidate[]> {
    return this.tracker.candidates(parseOrThrow(CandidatesRequestSchema, data, 'peerCandidates').exclude);
  }

  @MessagePattern(TrackerSubjects.reserve)
  reserve(@Payload() data: unknown): Promise<Reservation> {
    return this.tracker.reserve(parseOrThrow(ReserveRequestSchema, data, 'reserve'));
  }

  @MessagePattern(TrackerSubjects.release)
  release(@Payload() data: unknown): Promise<{ uploadId: string; released: number }> {
    return this.tracker.release(parseOrThrow(ReleaseRequestSchema, data, 'release').uploadId);
  }

  @MessagePattern(TrackerSubjects.listReservations)
  listReservations(@Payload() data: unknown): Promise<Reservation[]> {
    parseOrThrow(EmptyRequestSchema, data, 'listReservations');
    return this.tracker.listReservations();
  }
}
