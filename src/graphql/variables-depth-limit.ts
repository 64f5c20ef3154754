import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';

/**
 * Refuses variables nested deeper than `maxDepth` before graphql-js coerces
 * them: its coercion recurses once per level, and thousands of levels would
 * exhaust the stack. Legitimate inputs here nest about 25 levels at most (a
 * rule of the maximum depth).
 */
export function variablesDepthLimit(maxDepth = 64): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request }) {
          if (nestingDepth(request.variables) > maxDepth) {
            throw new GraphQLError(`Variables nest deeper than ${maxDepth} levels`, {
              // A caller's mistake, so HTTP 400 (an error thrown here would otherwise be a 500).
              extensions: { code: 'BAD_USER_INPUT', field: 'variables', http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}

/** Depth of nested objects and arrays, measured without recursion. */
function nestingDepth(value: unknown): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}
