import type http from 'node:http';

/**
 * The browser session of an admin: an HttpOnly cookie holding the admin's
 * own JWT, verified on every request like a bearer token, so the token's
 * `exp` (and a revoked signing key) end the session, and the server keeps no
 * session state. `SameSite=Strict` keeps other sites from sending it;
 * `Path=/admin` keeps it off GraphQL, which reads only the Authorization
 * header.
 */
export const ADMIN_COOKIE = 'segments_admin';

/** The `Set-Cookie` value that starts a session lasting `maxAgeSeconds` (the token's remaining lifetime). */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return cookie(`${ADMIN_COOKIE}=${token}`, Math.max(0, Math.floor(maxAgeSeconds)), secure);
}

/** The `Set-Cookie` value that ends the session. */
export function endedSessionCookie(secure: boolean): string {
  return cookie(`${ADMIN_COOKIE}=`, 0, secure);
}

function cookie(pair: string, maxAgeSeconds: number, secure: boolean): string {
  return [pair, 'Path=/admin', `Max-Age=${maxAgeSeconds}`, 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])].join('; ');
}

/** The token the session cookie holds, if the request carries one. */
export function sessionToken(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const separator = part.indexOf('=');
    if (separator > 0 && part.slice(0, separator).trim() === ADMIN_COOKIE) {
      const value = part.slice(separator + 1).trim();
      return value === '' ? undefined : value;
    }
  }
  return undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request that a cookie authenticates may change state: safe
 * methods always; others only with an `Origin` header naming this very
 * host. Browsers send `Origin` on every cross-origin request and on
 * same-origin POST, PUT, PATCH and DELETE, so a page elsewhere cannot make
 * an admin's browser retry or clean jobs, even where SameSite is not
 * enforced. A proxy in front must pass the Host header through.
 * https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html#using-standard-headers-to-verify-origin
 */
export function mayChangeState(req: http.IncomingMessage): boolean {
  if (SAFE_METHODS.has(req.method ?? 'GET')) return true;
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (!origin || !host || origin === 'null') return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
