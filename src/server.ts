import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { createContext, type Context, type ContextDependencies } from './context.js';
import { createErrorFormatter } from './errors.js';
import { createSubgraphSchema } from './graphql/schema.js';
import { variablesDepthLimit } from './graphql/variables-depth-limit.js';
import type { Logger } from './logger.js';

export interface ServerOptions {
  /** Whether the schema can be introspected. */
  introspection: boolean;
  /** Whether `GET /` shows Apollo Sandbox; production turns it off. */
  landingPage: boolean;
  /** Emit `@requiresScopes` in the subgraph SDL. @defaultValue false */
  federationAuthDirectives?: boolean;
}

export interface ServerDependencies extends ContextDependencies {
  logger: Logger;
  /** Resolves when every backing store answers; `/health/ready` reports it. */
  checkReadiness: () => Promise<void>;
}

export interface SubgraphServer {
  httpServer: http.Server;
  /** Starts Apollo Server and listens; resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting requests, drains in-flight ones, then stops Apollo Server. */
  stop(): Promise<void>;
}

/** Builds the subgraph's HTTP server without listening, so tests can start it on any port. */
export function createServer(options: ServerOptions, deps: ServerDependencies): SubgraphServer {
  const app = express();
  const httpServer = http.createServer(app);
  const apollo = new ApolloServer<Context>({
    schema: createSubgraphSchema({ authDirectives: options.federationAuthDirectives ?? false }),
    introspection: options.introspection,
    logger: deps.logger,
    includeStacktraceInErrorResponses: false,
    // The composition root owns shutdown: it stops the workers and stores too, in order.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter((error) => deps.logger.error({ err: error }, 'internal error in operation')),
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      variablesDepthLimit(),
      // Membership answers are per customer and never HTTP-cacheable; the
      // plugin would only add a hook to every resolved field.
      ApolloServerPluginCacheControlDisabled(),
      options.landingPage
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false })
        : ApolloServerPluginLandingPageDisabled(),
    ],
  });

  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', async (_req, res) => {
    try {
      await deps.checkReadiness();
      res.json({ status: 'ok' });
    } catch (error) {
      deps.logger.warn({ err: error }, 'readiness check failed');
      res.status(503).json({ status: 'unavailable' });
    }
  });

  return {
    httpServer,
    async listen(port, host) {
      await apollo.start();
      app.use(
        '/',
        express.json({ limit: '1mb' }),
        expressMiddleware(apollo, { context: async ({ req }) => createContext(deps, req.headers.authorization) }),
      );
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        httpServer.listen(port, host, () => resolve());
      });
      const address = httpServer.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    stop: () => apollo.stop(),
  };
}
