import type { GatewayExecutor, GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from '@apollo/server-gateway-interface';
import { execute, getNamedType, GraphQLError, isInputObjectType, printSchema, typeFromAST, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

export interface CompiledExecutionOptions {
  /** Compiled operations kept, the least recently used dropped first. @defaultValue 1000 */
  maxOperations?: number;
}

// Stands for "graphql-jit could not compile this one": executed by graphql-js instead.
const NOT_COMPILED = Symbol('not compiled');

/**
 * Executes operations with graphql-jit: each operation (by its document hash
 * and name) is compiled once into a JavaScript function, which then runs
 * resolvers and serializes leaves without graphql-js' per-field
 * interpretation. At a page of 100 customers that is most of a request's CPU
 * (docs/benchmarks.md "Serving speed").
 *
 * Apollo Server takes a custom executor only through its gateway interface,
 * so this is one: it "loads" the subgraph schema it is given and never
 * changes it. graphql-js still executes what graphql-jit cannot compile and
 * every request that asks for an inline trace (ftv1), whose timings come
 * from Apollo Server's instrumentation of graphql-js, and the operations
 * `worthCompiling` leaves out.
 */
export function compiledExecution(schema: GraphQLSchema, options: CompiledExecutionOptions = {}): GatewayInterface {
  const compiled = new LRUCache<string, CompiledQuery | typeof NOT_COMPILED>({ max: options.maxOperations ?? 1000 });
  let onLoad: GatewaySchemaLoadOrUpdateCallback | undefined;

  const executor: GatewayExecutor = async (request) => {
    const variables = request.request.variables ?? {};
    // The name the caller asked for: `request.operationName` is the resolved operation's, null when none was.
    const operationName = request.request.operationName ?? undefined;
    const slowPath = () =>
      execute({ schema: request.schema, document: request.document, contextValue: request.context, variableValues: variables, operationName });
    // No operation: the name is missing (several operations) or not in the document. graphql-js words
    // the refusal that Apollo Server answers as OPERATION_RESOLUTION_FAILURE (HTTP 400), as without compiling.
    const operation = request.operation as OperationDefinitionNode | undefined;
    if (!operation || request.metrics.captureTraces || !worthCompiling(request.schema, operation)) return slowPath();

    const key = `${request.queryHash}:${operationName ?? ''}`;
    let query = compiled.get(key);
    if (query === undefined) {
      const result = compileQuery(request.schema, request.document, operationName);
      query = isCompiledQuery(result) ? result : NOT_COMPILED;
      compiled.set(key, query);
    }
    if (query === NOT_COMPILED) return slowPath();
    const result = await query.query(undefined, request.context, variables);
    // No `data` at all: the variables were refused before execution. graphql-js words those errors
    // the way Apollo Server recognises as BAD_USER_INPUT (HTTP 400), so let it answer them.
    if (!('data' in result)) return slowPath();
    return result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
  };

  return {
    onSchemaLoadOrUpdate(callback) {
      onLoad = callback;
      return () => {
        onLoad = undefined;
      };
    },
    async load() {
      onLoad?.({ apiSchema: schema, coreSupergraphSdl: printSchema(schema) });
      return { executor };
    },
    async stop() {
      compiled.clear();
    },
  };
}

/**
 * Whether an operation is compiled: not when a variable is of an input
 * object type. graphql-jit writes coercion code for such a variable that
 * grows with the type's nesting: for a `SegmentRuleInput` (rules within
 * rules) compiling took 5 s of CPU, synchronously, before any resolver could
 * check the token. Such operations are the admin ones (previews, create,
 * update), which gain nothing from compiling, and each new document of them
 * would hold the event loop, and every public read with it (issue 9, item 6).
 */
export function worthCompiling(schema: GraphQLSchema, operation: OperationDefinitionNode): boolean {
  return (operation.variableDefinitions ?? []).every((variable) => {
    const type = typeFromAST(schema, variable.type);
    return !(type && isInputObjectType(getNamedType(type)));
  });
}

/**
 * graphql-jit's errors as graphql-js' own. Its errors leave `extensions`
 * undefined when the resolver's error had none, and Apollo Server reads
 * `extensions.code` of every error it formats: such an error became an
 * internal error without its path that was never logged.
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const copy = new GraphQLError(error.message, {
    path: error.path,
    ...(error.originalError ? { originalError: error.originalError } : {}),
    ...(error.extensions ? { extensions: error.extensions } : {}),
  });
  // graphql-jit computed the locations already; graphql-js would need the AST nodes to.
  if (error.locations) Object.defineProperty(copy, 'locations', { value: error.locations, enumerable: true });
  return copy;
}
