import type http from 'node:http';
import type { Socket } from 'node:net';
import { httpError } from '../errors.js';

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

const BODY_TIMEOUT = httpError(408, 'REQUEST_TIMEOUT', 'The request body stopped arriving');

/**
 * Options for `http.createServer`: Node checks the headers deadline at this
 * interval (its default, 30 s, would let a stalled client hold a socket
 * three times longer than the deadline).
 */
export function serverOptions(timeouts: ConnectionTimeouts): http.ServerOptions {
  return { connectionsCheckingInterval: Math.min(1000, timeouts.headersMs), headersTimeout: timeouts.headersMs, requestTimeout: 0 };
}

/**
 * Applies `bodyIdleMs` to `server`. Returns the function its request
 * handler calls first with each request, so that a socket's silence can be
 * told apart: a body still expected (408, close), a handler at work (left
 * alone: previews and imports may take seconds without writing), or an idle
 * keep-alive socket (closed).
 */
export function applyBodyIdleTimeout(server: http.Server, timeouts: ConnectionTimeouts): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const current = new WeakMap<Socket, { req: http.IncomingMessage; res: http.ServerResponse }>();
  server.timeout = timeouts.bodyIdleMs;
  server.on('timeout', (socket: Socket) => {
    const exchange = current.get(socket);
    if (!exchange || exchange.res.writableEnded) return void socket.destroy();
    if (exchange.req.complete) return;
    if (exchange.res.headersSent) return void socket.destroy();
    exchange.res.writeHead(BODY_TIMEOUT.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    exchange.res.end(JSON.stringify(BODY_TIMEOUT.body), () => socket.destroy());
  });
  return (req, res) => {
    current.set(req.socket, { req, res });
  };
}
