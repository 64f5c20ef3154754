/** How long a client may take to send its request (docs/configuration.md "Connections"). */
export interface ConnectionTimeouts {
  /** From connecting to the end of the request's headers; answered 408 by Node. @defaultValue 10000 */
  headersMs: number;
  /**
   * Silence allowed while the body arrives: a body that stops (a declared
   * Content-Length never sent) is answered 408 and the connection closed.
   * A slow upload that keeps sending (a member import of millions of ids)
   * is not cut, which a deadline for the whole request would do.
   * @defaultValue 10000
   */
  bodyIdleMs: number;
}

export const DEFAULT_CONNECTION_TIMEOUTS: ConnectionTimeouts = { headersMs: 10_000, bodyIdleMs: 10_000 };
