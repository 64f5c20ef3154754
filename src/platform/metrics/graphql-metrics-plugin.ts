import type { ApolloServerPlugin } from '@apollo/server';
import { graphqlOperationDuration, graphqlOperations } from './metrics.js';

/**
 * Counts and times every GraphQL operation by its type (query, mutation,
 * subscription; `unknown` when the document did not parse or name a valid
 * operation) and outcome (`error` when the response carries errors).
 */
export function graphqlMetricsPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operation, response }) {
          const operationType = operation?.operation ?? 'unknown';
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : response.body.initialResult.errors;
          graphqlOperations.inc({ operation_type: operationType, outcome: errors?.length ? 'error' : 'ok' });
          graphqlOperationDuration.observe({ operation_type: operationType }, Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
}
