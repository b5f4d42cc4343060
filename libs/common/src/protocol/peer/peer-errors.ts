/** The peer answered one request with ERROR{id}; the connection itself is still fine. */
export class PeerRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PeerRequestError';
  }
}

/** The connection is gone (closed, broken, or failed the protocol); every outstanding request fails with this. */
export class PeerClosedError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'PeerClosedError';
  }
}
