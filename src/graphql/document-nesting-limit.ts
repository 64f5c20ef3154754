import type { HttpError } from '../platform/errors.js';

/** Deeper than this, a document is refused unparsed. */
export const MAX_DOCUMENT_NESTING = 128;

/**
 * The refusal of a request whose document nests its braces, brackets and
 * parentheses deeper than `maxNesting`, or null. Checked on the request
 * before Apollo Server sees it (both HTTP paths call it): graphql-js' parser
 * recurses a few frames per level and runs out of stack at about 1,700
 * levels, within the token limit, and validation sooner; Apollo Server turns
 * anything a plugin throws before parsing into an internal error. Legitimate
 * documents here nest a few dozen levels (fields up to the depth limit, a
 * rule of the deepest allowed nesting written inline).
 */
export function deepDocumentRefusal(query: unknown, maxNesting = MAX_DOCUMENT_NESTING): HttpError | null {
  if (typeof query !== 'string' || nestingOf(query) <= maxNesting) return null;
  return {
    status: 400,
    body: {
      errors: [
        {
          message: `The document nests deeper than ${maxNesting} levels of braces, brackets and parentheses`,
          extensions: { code: 'COST_LIMIT_EXCEEDED', limit: 'maxNesting' },
        },
      ],
    },
  };
}

/** The deepest nesting of `{`, `[` and `(` in GraphQL source text, outside strings and comments (spec "Lexical Tokens"). */
export function nestingOf(source: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '#') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (c === '"') {
      if (source.startsWith('"""', i)) {
        // A block string ends at the next """ not escaped as \""".
        for (i += 3; i < source.length && !(source.startsWith('"""', i) && source[i - 1] !== '\\'); i++);
        i += 2;
      } else {
        for (i++; i < source.length && source[i] !== '"' && source[i] !== '\n'; i++) if (source[i] === '\\') i++;
      }
    } else if (c === '{' || c === '[' || c === '(') {
      deepest = Math.max(deepest, ++depth);
    } else if (c === '}' || c === ']' || c === ')') {
      depth = Math.max(0, depth - 1);
    }
  }
  return deepest;
}
