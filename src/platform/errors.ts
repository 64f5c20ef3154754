import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';

/**
 * Errors the service means to show its callers. Each names its GraphQL
 * `extensions.code`; anything else that reaches a response is an internal
 * error and is replaced by `internalError` in `formatError`.
 */
export abstract class SegmentsError extends GraphQLError {
  abstract readonly code: string;
}

/**
 * The caller sent something invalid. `field` is the path of the offending
 * argument or input field, e.g. `first` or `input.rule.all.0.orderCount.value`.
 */
export class BadUserInputError extends SegmentsError {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    message: string,
    readonly field: string,
    /** Every problem found, when there is more than one. */
    issues?: ReadonlyArray<{ field: string; message: string }>,
  ) {
    super(message, { extensions: { code: 'BAD_USER_INPUT', field, ...(issues && issues.length > 1 ? { issues } : {}) } });
  }
}

/**
 * Text Postgres cannot store: a NUL character (U+0000) or half of a UTF-16
 * surrogate pair, found in an argument or variable before anything runs.
 * Refused with HTTP 400; `field` is the argument's path (`input.name`) or the
 * variable's (`variables.r.0.id`).
 */
export class UnstorableTextError extends SegmentsError {
  readonly code = 'BAD_USER_INPUT';
  constructor(readonly field: string) {
    super(`${field} contains a character that cannot be stored (U+0000 or an unpaired surrogate)`, {
      extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } },
    });
  }
}

/**
 * An `_entities` representation this subgraph cannot resolve: not an object,
 * no `__typename` of one of its entity types, or no string `id`. Refused with
 * HTTP 400 before anything executes; `field` is its path
 * (`representations.3.id`).
 */
export class MalformedRepresentationError extends SegmentsError {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field} ${problem}`, { extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } } });
  }
}

/**
 * A line of a member list (docs/api.md "Admin API", the member import) that is
 * not a customer id. `line` counts from 1.
 */
export class MalformedLineError extends SegmentsError {
  readonly code = 'BAD_USER_INPUT';
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`body: line ${line} ${problem}`, { extensions: { code: 'BAD_USER_INPUT', field: 'body', line } });
  }
}

/** A request body over what the route accepts, counted after decompression. */
export class PayloadTooLargeError extends SegmentsError {
  readonly code = 'PAYLOAD_TOO_LARGE';
  constructor(readonly maxBytes: number) {
    super(`The request body is larger than ${maxBytes} bytes`, { extensions: { code: 'PAYLOAD_TOO_LARGE', maxBytes } });
  }
}

/** No valid token: missing, malformed, badly signed, expired, or for another issuer or audience. */
export class UnauthenticatedError extends SegmentsError {
  readonly code = 'UNAUTHENTICATED';
  constructor(message = 'A valid bearer token is required') {
    super(message, { extensions: { code: 'UNAUTHENTICATED' } });
  }
}

/** A valid token without the scope the operation needs. */
export class ForbiddenError extends SegmentsError {
  readonly code = 'FORBIDDEN';
  constructor(readonly scope: string) {
    super(`The token lacks the ${scope} scope`, { extensions: { code: 'FORBIDDEN', scope } });
  }
}

/**
 * The change was made against a state that is no longer current (another
 * admin changed the segment first, or an idempotency key was used with
 * another input). Nothing changed; `field` names the input that conflicted.
 */
export class ConflictError extends SegmentsError {
  readonly code = 'CONFLICT';
  constructor(
    message: string,
    readonly field: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code: 'CONFLICT', field, ...details } });
  }
}

/**
 * An operation over the configured limits (docs/api.md "Operation limits"),
 * refused before execution with HTTP 400. `limit` names the limit.
 */
export class CostLimitError extends SegmentsError {
  readonly code = 'COST_LIMIT_EXCEEDED';
  constructor(
    message: string,
    readonly limit: string,
  ) {
    super(message, { extensions: { code: 'COST_LIMIT_EXCEEDED', limit, http: { status: 400 } } });
  }
}

/**
 * A change that would take the service past a configured quota (docs/api.md
 * "Admin API limits"); nothing changed. `limit` names the quota, `max` its value.
 */
export class QuotaExceededError extends SegmentsError {
  readonly code = 'QUOTA_EXCEEDED';
  constructor(
    message: string,
    readonly limit: string,
    readonly max: number,
  ) {
    super(message, { extensions: { code: 'QUOTA_EXCEEDED', limit, max } });
  }
}

/**
 * A preview that ran longer than the preview statement timeout (docs/api.md
 * "Admin API limits"); the caller should narrow the rule.
 */
export class PreviewTimeoutError extends SegmentsError {
  readonly code = 'PREVIEW_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`The preview took longer than ${timeoutMs} ms; narrow the rule`, { extensions: { code: 'PREVIEW_TIMEOUT', timeoutMs } });
  }
}

/**
 * Work refused because too much of its kind is running (docs/api.md "Admin API
 * limits"); the caller may try again once it has finished. `limit` names the
 * limit: `previewsPerToken` or `previewPool`.
 */
export class TooManyRequestsError extends SegmentsError {
  readonly code = 'TOO_MANY_REQUESTS';
  constructor(
    message: string,
    readonly limit: string,
  ) {
    super(message, { extensions: { code: 'TOO_MANY_REQUESTS', limit } });
  }
}

// Codes produced by graphql-js and Apollo Server themselves for caller
// mistakes (parse, validation, variable coercion, bad HTTP request); their
// messages are meant for callers.
const CALLER_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

const internalError = { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } };

// Internal errors already logged with their request (the access log's plugin), so the formatter does not log them again.
const loggedWithRequest = new WeakSet<object>();

/**
 * The error behind `error` when it is internal (logged, and masked in the
 * answer), or null when the caller is meant to see it: a SegmentsError, or
 * a caller mistake coded by graphql-js or Apollo Server.
 */
export function internalCause(error: unknown): unknown {
  const original = segmentsErrorIn(error) ?? unwrapResolverError(error);
  if (original instanceof SegmentsError) return null;
  const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
  if (typeof code === 'string' && CALLER_CODES.has(code)) return null;
  return original;
}

/** Records that an internal error was logged with its request, operation and path. */
export function markLoggedWithRequest(cause: unknown): void {
  if (typeof cause === 'object' && cause !== null) loggedWithRequest.add(cause);
}

/**
 * Apollo Server's `formatError`: the one place errors become responses.
 * Known errors pass with their code (and path); everything else reaches the
 * caller as a bare INTERNAL_SERVER_ERROR, with its path but no message or
 * stack from inside, and is reported to `onInternalError` unless it was
 * already logged with its request. Never throws.
 */
export function createErrorFormatter(onInternalError: (error: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = segmentsErrorIn(error) ?? unwrapResolverError(error);
    if (original instanceof SegmentsError) {
      // `formatted` carries the error's extensions without `http`, which Apollo Server has applied already.
      const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
      return { message: original.message, path: formatted.path, extensions };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CALLER_CODES.has(code)) {
      const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
      // "Did you mean ...?" would list fields a caller may not know of (field suggestions).
      return { ...formatted, message: formatted.message.replace(/ ?Did you mean .*\?$/, ''), extensions };
    }
    // WeakSet.has of a primitive (a thrown string) is false: such an error is reported here.
    if (!loggedWithRequest.has(original as object)) onInternalError(original);
    return { ...internalError, ...(formatted.path ? { path: formatted.path } : {}) };
  };
}

/**
 * The SegmentsError behind `error`, however it was wrapped: graphql-js wraps
 * resolver errors with a path, and Apollo Server wraps what plugins throw in
 * a new GraphQLError when it is not one of its own copy of graphql-js.
 */
function segmentsErrorIn(error: unknown): SegmentsError | undefined {
  for (let e = error, hops = 0; e && hops < 5; e = (e as { originalError?: unknown }).originalError, hops++) {
    if (e instanceof SegmentsError) return e;
  }
  return undefined;
}

/** The largest request body accepted, as express.json reads it. */
export const MAX_BODY = { bytes: 1024 * 1024, label: '1mb' } as const;

/** A GraphQL-shaped JSON error for a request refused before GraphQL runs. */
export interface HttpError {
  status: number;
  body: { errors: Array<{ message: string; extensions: { code: string; [key: string]: unknown } }> };
}

export const httpError = (status: number, code: string, message: string): HttpError => ({
  status,
  body: { errors: [{ message, extensions: { code } }] },
});

/** How a request body that cannot be read is refused, whichever path read it. */
export const BODY_REFUSALS = {
  notJson: httpError(400, 'BAD_REQUEST', 'The request body is not valid JSON'),
  tooLarge: httpError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${MAX_BODY.bytes} bytes`),
} as const;

// The HTTP status of a SegmentsError answered outside GraphQL (the member import route).
const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  PAYLOAD_TOO_LARGE: 413,
};

/**
 * Maps what Express' body parser (or anything else before Apollo Server)
 * throws, and the SegmentsErrors of routes outside GraphQL, to a
 * GraphQL-shaped JSON error, never an HTML page or a stack.
 * Unknown errors are reported to `onInternalError` and answered as a bare 500.
 */
export function toHttpError(error: unknown, onInternalError: (error: unknown) => void): HttpError {
  if (error instanceof SegmentsError) {
    const { http: _applied, ...extensions } = error.extensions;
    return {
      status: HTTP_STATUS_OF_CODE[error.code] ?? 400,
      body: { errors: [{ message: error.message, extensions: { ...extensions, code: error.code } }] },
    };
  }
  const type = (error as { type?: unknown } | null)?.type;
  switch (type) {
    case 'entity.parse.failed':
      return BODY_REFUSALS.notJson;
    case 'entity.too.large':
      return BODY_REFUSALS.tooLarge;
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return httpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The request body must be JSON in UTF-8');
  }
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return httpError(status, 'BAD_REQUEST', 'The request could not be read');
  onInternalError(error);
  return httpError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
}
