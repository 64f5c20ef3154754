import express, { type Request, type Response, type Router } from 'express';
import { decodeJwt } from 'jose';
import { RequestAuth } from '../../auth/request-auth.js';
import type { TokenVerifier } from '../../auth/token-verifier.js';
import { ForbiddenError, httpError, UnauthenticatedError, type HttpError } from '../../platform/errors.js';
import { endedSessionCookie, mayChangeState, sessionCookie, sessionToken } from './admin-session.js';
import { QUEUE_BOARD_PATH, type QueueBoard } from './queue-board.js';
import { SIGN_IN_PAGE_HEADERS, signInPage, type SignInProblem } from './sign-in-page.js';

export const SIGN_IN_PATH = '/admin/sign-in';
export const SIGN_OUT_PATH = '/admin/sign-out';

export interface QueueBoardRoutesOptions {
  board: QueueBoard;
  /** The verifier GraphQL uses: the board takes the same tokens. */
  verifyToken: TokenVerifier;
  /** Mark the session cookie `Secure` (HTTPS only); production does. */
  secureCookie: boolean;
  onInternalError: (error: unknown) => void;
}

const SCOPE = 'segments:write';
const CROSS_SITE = httpError(403, 'FORBIDDEN', 'A request that changes state must come from this site (Origin header)');

/**
 * The queue board at `/admin/queues`, and the sign-in that lets a person
 * reach it (docs/operations.md "Queue board"). Scripts send `Authorization: Bearer`;
 * browsers sign in at `/admin/sign-in` and carry the session cookie
 * (admin-session.ts). Both need `segments:write`. Without a valid token a
 * browser is sent to the sign-in page and any other client gets 401 JSON;
 * a token without the scope gets 403.
 */
export function queueBoardRoutes(options: QueueBoardRoutesOptions): Router {
  const router = express.Router();
  const { verifyToken, secureCookie } = options;

  const showSignIn = (res: Response, status: number, problem?: SignInProblem) => {
    res.status(status).set(SIGN_IN_PAGE_HEADERS).type('html').send(signInPage(problem));
  };

  router.get(SIGN_IN_PATH, (_req, res) => showSignIn(res, 200));

  router.post(SIGN_IN_PATH, express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    if (!mayChangeState(req)) return showSignIn(res, 403, 'cross-site');
    const form = req.body as { token?: unknown } | undefined;
    const token = typeof form?.token === 'string' ? form.token.trim() : '';
    try {
      await new RequestAuth(`Bearer ${token}`, verifyToken).require(SCOPE);
    } catch (error) {
      if (error instanceof ForbiddenError) return showSignIn(res, 403, 'forbidden');
      if (error instanceof UnauthenticatedError) return showSignIn(res, 401, 'invalid');
      options.onInternalError(error);
      return showSignIn(res, 500);
    }
    // The verifier required `exp`: the session ends when the token does.
    const expiresAt = decodeJwt(token).exp!;
    res.setHeader('set-cookie', sessionCookie(token, expiresAt - Date.now() / 1000, secureCookie));
    res.redirect(303, QUEUE_BOARD_PATH);
  });

  router.post(SIGN_OUT_PATH, (req, res) => {
    if (!mayChangeState(req)) return showSignIn(res, 403, 'cross-site');
    res.setHeader('set-cookie', endedSessionCookie(secureCookie));
    res.redirect(303, SIGN_IN_PATH);
  });

  router.use(QUEUE_BOARD_PATH, async (req, res, next) => {
    const bearer = req.headers.authorization;
    const cookie = bearer === undefined ? sessionToken(req) : undefined;
    // A bearer token is never sent by a browser on its own; only the cookie can be ridden cross-site.
    if (cookie !== undefined && !mayChangeState(req)) return refuse(res, CROSS_SITE);
    try {
      await new RequestAuth(bearer ?? (cookie === undefined ? undefined : `Bearer ${cookie}`), verifyToken).require(SCOPE);
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        if (cookie !== undefined) res.setHeader('set-cookie', endedSessionCookie(secureCookie));
        if (wantsPage(req)) return void res.redirect(303, SIGN_IN_PATH);
        res.setHeader('www-authenticate', 'Bearer');
        return refuse(res, httpError(401, 'UNAUTHENTICATED', 'The queue board needs a token with the segments:write scope'));
      }
      if (error instanceof ForbiddenError) {
        if (wantsPage(req)) return showSignIn(res, 403, 'forbidden');
        return refuse(res, httpError(403, 'FORBIDDEN', 'The queue board needs the segments:write scope'));
      }
      return next(error);
    }
    // The board's pages and job data are for this admin only.
    res.setHeader('cache-control', 'no-store');
    options.board.handler(req, res, next);
  });

  return router;
}

/** A browser navigating (asks for HTML before JSON), rather than a script or the board's own API calls. */
function wantsPage(req: Request): boolean {
  return req.method === 'GET' && req.accepts(['json', 'html']) === 'html';
}

function refuse(res: Response, refused: HttpError): void {
  res.status(refused.status).json(refused.body);
}
