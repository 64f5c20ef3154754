import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { httpError, type HttpError } from '../platform/errors.js';

/** The header Apollo's guidance names for a subgraph's shared secret. */
export const DEFAULT_ROUTER_SECRET_HEADER = 'router-authorization';

/**
 * Only the router may query a subgraph (Apollo, "Secure Subgraphs"): it sends
 * a secret shared with this subgraph alone in a header of every request.
 */
export interface RouterSecretOptions {
  /** The shared secret. */
  secret: string;
  /** The header that carries it, case-insensitive. @defaultValue `router-authorization` */
  header?: string;
}

/** A request without the secret: refused before its body is read, so nothing of it is parsed or executed. */
export function routerSecretRefusal(header: string): HttpError {
  return httpError(401, 'UNAUTHENTICATED', `Only the router may query this subgraph: the ${header} header is missing or wrong`);
}

/**
 * Whether a request carries the router's secret. Both sides are compared as
 * SHA-256 digests with `timingSafeEqual`, so the time taken says nothing of
 * the secret's content or length. A header sent twice (Node joins the
 * values) does not match.
 */
export function routerSecretCheck(options: RouterSecretOptions): (req: http.IncomingMessage) => boolean {
  const header = (options.header ?? DEFAULT_ROUTER_SECRET_HEADER).toLowerCase();
  const expected = digest(options.secret);
  return (req) => {
    const value = req.headers[header];
    return typeof value === 'string' && timingSafeEqual(digest(value), expected);
  };
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
