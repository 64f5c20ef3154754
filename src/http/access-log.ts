import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { pinoHttp } from 'pino-http';
import { internalCause, markLoggedWithRequest } from '../platform/errors.js';
import type { Logger } from '../platform/logger.js';

/** The response header that carries the request id back to the caller (and the router). */
export const REQUEST_ID_HEADER = 'x-request-id';

// Ids the router or a client sends: printable tokens only, so a log line cannot be forged through them.
const ACCEPTED_REQUEST_ID = /^[\w.:@-]{1,128}$/;
// W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
// https://www.w3.org/TR/trace-context/#traceparent-header-field-values
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

/**
 * The id a request is logged under: the caller's `x-request-id` when it is a
 * plain token, else the trace id of a W3C `traceparent`, else a new UUID.
 */
export function requestIdOf(headers: http.IncomingHttpHeaders): string {
  const given = headers[REQUEST_ID_HEADER];
  if (typeof given === 'string' && ACCEPTED_REQUEST_ID.test(given)) return given;
  const traceId = TRACEPARENT.exec(typeof headers.traceparent === 'string' ? headers.traceparent.trim().toLowerCase() : '')?.[1];
  if (traceId && !/^0+$/.test(traceId)) return traceId;
  return randomUUID();
}

// Apollo Server runs each operation on a shallow copy of the context, which keeps symbol-keyed properties.
const HTTP_REQUEST = Symbol('http request');

interface OperationFields {
  operationName?: string;
  operationType?: string;
}

export interface AccessLog {
  /** Starts logging one request (its line is written when the response ends) and answers its id in `x-request-id`. */
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Links a GraphQL context to its HTTP request, so that `plugin` can put the operation in the request's line. */
  track<T extends object>(context: T, req: http.IncomingMessage): T;
  /** Apollo Server plugin recording the operation's name and type for the access log. */
  plugin: ApolloServerPlugin<BaseContext>;
}

/**
 * One JSON line per HTTP request (pino-http): `requestId`, `req` (method and
 * URL, never headers: they carry tokens), `res.statusCode`, `responseTime`
 * (ms), and for GraphQL `operationName` and `operationType`. Health and
 * metrics probes log at debug level. A 5xx answer is logged at warn: the
 * error behind it has its own error line, with its cause, where it happened.
 */
export function createAccessLog(logger: Logger): AccessLog {
  const operations = new WeakMap<http.IncomingMessage, OperationFields>();
  const httpLogger = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req.headers);
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    serializers: {
      req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    // The id is bound once, when the request starts; the operation is added when it ends (customProps
    // runs at both: binding the id there too wrote it twice in a line).
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    customProps: (req) => ({ ...operations.get(req) }),
    customLogLevel: (req, res, err) => {
      if (err || res.statusCode >= 500) return 'warn';
      return isProbe(req.url) ? 'debug' : 'info';
    },
    // The error behind a 5xx is logged once, where it happened; this line only says the request failed.
    customErrorObject: (_req, _res, _error, fields: Record<string, unknown>) => ({ ...fields, err: undefined }),
    customErrorMessage: () => 'request failed',
    customSuccessMessage: (_req, res) => (res.writableEnded ? 'request completed' : 'request aborted'),
  });

  const accessLog = ((req: http.IncomingMessage, res: http.ServerResponse) => httpLogger(req, res)) as AccessLog;
  accessLog.track = (context, req) => Object.assign(context, { [HTTP_REQUEST]: req });
  accessLog.plugin = {
    async requestDidStart({ contextValue, request }) {
      const req = (contextValue as { [HTTP_REQUEST]?: http.IncomingMessage })[HTTP_REQUEST];
      if (!req) return;
      if (request.operationName) operations.set(req, { operationName: request.operationName });
      return {
        async didResolveOperation({ operationName, operation }) {
          operations.set(req, { ...(operationName ? { operationName } : {}), ...(operation ? { operationType: operation.operation } : {}) });
        },
        // Each internal error once, on either execution path, with what finds it: the request, the operation, the field.
        async didEncounterErrors({ errors, operationName }) {
          for (const error of errors) {
            const cause = internalCause(error);
            if (cause === null) continue;
            markLoggedWithRequest(cause);
            logger.error({ err: cause, requestId: (req as { id?: unknown }).id, operationName: operationName ?? request.operationName ?? null, path: error.path }, 'internal error in operation');
          }
        },
      };
    },
  };
  return accessLog;
}

function isProbe(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/health/') || url === '/metrics');
}
