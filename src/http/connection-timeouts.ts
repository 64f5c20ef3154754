import type http from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionTimeouts } from '../platform/connection-timeouts-config.js';
import { httpError } from '../platform/errors.js';

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
