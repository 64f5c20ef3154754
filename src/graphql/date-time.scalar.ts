import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { parseDateTime } from '../rules/date-time.js';

function parse(value: unknown): Date {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}[Tt]/.test(value) || !/([Zz]|[+-]\d{2}:\d{2})$/.test(value)) {
    throw new GraphQLError('DateTime must be an RFC 3339 string with a time zone, e.g. 2026-01-31T12:00:00Z', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  const date = parseDateTime(value);
  if (date === null) {
    throw new GraphQLError(`DateTime ${JSON.stringify(value)} is not a valid instant`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return date;
}

/** `DateTime`: JS `Date` inside, RFC 3339 UTC string with milliseconds outside. */
export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  serialize(value) {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw new TypeError('DateTime can only serialize a valid Date');
    }
    return value.toISOString();
  },
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string', { nodes: ast });
    return parse(ast.value);
  },
});
