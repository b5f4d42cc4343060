import { z } from 'zod';
import { type Announce, type DownloadCompleted, FileRecordSchema, type FileRecord, type NatsRpc, TrackerSubjects } from '@swarmshare/common';

/** The tracker, over NATS. Acks carry nothing this gateway needs, so their bodies are not checked. */
export class TrackerClient {
  constructor(private readonly rpc: NatsRpc) {}

  async announce(a: Announce): Promise<void> {
    await this.rpc.request(TrackerSubjects.announce, a, z.unknown());
  }

  getFile(fileId: string): Promise<FileRecord> {
    return this.rpc.request(TrackerSubjects.getFile, { fileId }, FileRecordSchema);
  }

  async downloadStarted(fileId: string, nodeId: string): Promise<void> {
    await this.rpc.request(TrackerSubjects.downloadStarted, { fileId, nodeId }, z.unknown());
  }

  async downloadCompleted(body: DownloadCompleted): Promise<void> {
    await this.rpc.request(TrackerSubjects.downloadCompleted, body, z.unknown());
  }
}
