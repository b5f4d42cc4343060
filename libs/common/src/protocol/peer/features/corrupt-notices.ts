import { CORRUPT_NOTICE_FEATURE, MsgType } from '../../messages';
import type { ConnectionCore, ConnectionFeature } from '../connection-core';

/**
 * CORRUPT (feature "corrupt-notice"): a downloader tells the holder that a chunk it served failed
 * its hash, so the holder can check its copy. Not answered; a handler without `corrupt` ignores it.
 */
export class CorruptNotices implements ConnectionFeature {
  readonly controls: ConnectionFeature['controls'] = {
    [MsgType.CORRUPT]: (b) => this.onCorrupt(b),
  };

  constructor(private readonly conn: ConnectionCore) {}

  /** Tell the peer; false (nothing sent) when it did not announce the feature or the link is down. */
  send(fileId: string, index: number): boolean {
    const conn = this.conn;
    if (conn.state !== 'open' || !conn.remote?.features.includes(CORRUPT_NOTICE_FEATURE)) return false;
    conn.sendControl(MsgType.CORRUPT, { fileId, index });
    return true;
  }

  private onCorrupt(b: { fileId: string; index: number }): void {
    this.conn.opts.handler?.corrupt?.(b, this.conn.remote!.nodeId);
  }
}
