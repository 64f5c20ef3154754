import type http from 'node:http';
import { createGunzip } from 'node:zlib';
import type { Request, RequestHandler, Response } from 'express';
import type { MemberImport } from '../admin/member-import.js';
import { RequestAuth } from '../auth/request-auth.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { httpError, PayloadTooLargeError, toHttpError, type HttpError } from '../platform/errors.js';

/** Where the member import is served (docs/api.md "Admin API"). */
export const MEMBER_IMPORT_PATH = '/admin/segments/:id/members';

export interface MemberImportRouteOptions {
  memberImport: MemberImport;
  verifyToken: TokenVerifier;
  /** The largest list accepted, in bytes after decompression. */
  maxBytes: number;
  onInternalError: (error: unknown) => void;
}

const UNSUPPORTED = httpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The body must be text/csv in UTF-8, sent as is or gzip-encoded');
const NOT_GZIP = httpError(400, 'BAD_REQUEST', 'The request body is not valid gzip');

/**
 * `PUT /admin/segments/{id}/members`: replaces a STATIC segment's members
 * with the customer ids of a `text/csv` body, one per line (MemberImport),
 * and answers `{ size, entered, left }`. The token is checked before a byte
 * of the body is read; the body is then streamed to Postgres as it arrives,
 * up to `maxBytes`. Every refusal is GraphQL-shaped JSON with a code.
 */
export function memberImportRoute(options: MemberImportRouteOptions): RequestHandler<{ id: string }> {
  return async (req, res) => {
    try {
      const actor = await new RequestAuth(req.headers.authorization, options.verifyToken).require('segments:write');
      const encoding = bodyEncoding(req);
      if (!encoding) return refuse(req, res, UNSUPPORTED);
      const length = Number(req.headers['content-length']);
      if (encoding === 'identity' && length > options.maxBytes) throw new PayloadTooLargeError(options.maxBytes);
      const result = await options.memberImport.replace(req.params.id, limited(bodyOf(req, encoding), options.maxBytes), actor);
      res.json(result);
    } catch (error) {
      // The client hung up: the import has rolled back, and there is no one to answer.
      if (req.socket.destroyed) return;
      if ((error as { code?: unknown }).code === 'Z_DATA_ERROR' || (error as { code?: unknown }).code === 'Z_BUF_ERROR') {
        return refuse(req, res, NOT_GZIP);
      }
      refuse(req, res, toHttpError(error, options.onInternalError));
    }
  };
}

/** How the body is encoded, or null when it is not a UTF-8 CSV this route reads. */
function bodyEncoding(req: Request): 'identity' | 'gzip' | null {
  if (!req.is('text/csv')) return null;
  const charset = /;\s*charset=("?)([^";]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return null;
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  return encoding === 'identity' || encoding === 'gzip' ? encoding : null;
}

/**
 * The body's chunks, decoded. A list refused half-way stops being read but
 * the request is not destroyed, which would close the connection before the
 * refusal is sent. A client that hangs up fails the iteration.
 */
function bodyOf(req: Request, encoding: 'identity' | 'gzip'): AsyncIterable<Buffer> {
  // Errors are read through the iteration, which may start after them (the segment is checked first):
  // a listener now keeps one that comes earlier from being an uncaught exception.
  const ignore = () => undefined;
  req.on('error', ignore);
  if (encoding === 'identity') return req.iterator({ destroyOnReturn: false });
  const gunzip = req.pipe(createGunzip()).on('error', ignore);
  req.once('error', (error) => gunzip.destroy(error));
  return gunzip;
}

/** The body's chunks, failing with PAYLOAD_TOO_LARGE past `maxBytes`: an endless body cannot run forever. */
async function* limited(body: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    if (bytes > maxBytes) throw new PayloadTooLargeError(maxBytes);
    yield chunk;
  }
}

/**
 * Answers a refusal. The rest of an unread body is not read: the connection
 * is closed after the answer instead.
 */
function refuse(req: http.IncomingMessage, res: Response, refused: HttpError): void {
  if (res.headersSent) return void res.end();
  if (!req.complete) res.setHeader('connection', 'close');
  if (refused.status === 401) res.setHeader('www-authenticate', 'Bearer');
  res.status(refused.status).json(refused.body);
}
