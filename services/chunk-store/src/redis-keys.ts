/**
 * Redis keys of one node's chunk index. Every key carries the node's hash tag, so in a Redis Cluster
 * they all live in one slot and MULTI / Lua scripts may touch several of them.
 */
export class RedisKeys {
  private readonly prefix: string;

  constructor(readonly nodeId: string) {
    this.prefix = `ss:{node:${nodeId}}`;
  }

  /** SET of the file ids this node holds. */
  files(): string {
    return `${this.prefix}:files`;
  }
  /** HASH name/size/chunkSize/chunkCount of one file. */
  file(fileId: string): string {
    return `${this.prefix}:file:${fileId}`;
  }
  /** The manifest's chunk hashes, raw 32 bytes each, so one hash is a GETRANGE. */
  hashes(fileId: string): string {
    return `${this.prefix}:hashes:${fileId}`;
  }
  /** Bitmap of present chunks (SETBIT order is MSB first, the same as Bitfield). */
  bits(fileId: string): string {
    return `${this.prefix}:bits:${fileId}`;
  }
  lease(leaseId: string): string {
    return `${this.prefix}:lease:${leaseId}`;
  }
  lock(fileId: string, index: number): string {
    return `${this.lockPrefix()}${fileId}:${index}`;
  }
  /** lock() is this + `<fileId>:<index>` (a Lua script builds lock keys from lease records). */
  lockPrefix(): string {
    return `${this.prefix}:lock:`;
  }
  /** SCAN pattern of every chunk lock of this node (start-up clears them). */
  lockPattern(): string {
    return `${this.lockPrefix()}*`;
  }
  /** Present while the index is known to mirror the disk; gone after FLUSHALL or a Redis restart. */
  indexed(): string {
    return `${this.prefix}:indexed`;
  }
}
