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

/**
 * Apollo Server's `formatError`: the one place errors become responses.
 * Known errors pass with their code (and path); everything else is logged by
 * `onInternalError` and reaches the caller as a bare INTERNAL_SERVER_ERROR
 * with no message or stack from inside. Never throws.
 */
export function createErrorFormatter(onInternalError: (error: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof SegmentsError) {
      return { message: original.message, path: formatted.path, extensions: { ...original.extensions } };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CALLER_CODES.has(code)) {
      const { stacktrace: _omit, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    onInternalError(original);
    return { ...internalError, ...(formatted.path ? { path: formatted.path } : {}) };
  };
}
