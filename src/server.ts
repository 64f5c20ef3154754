import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler } from 'express';
import { DEFAULT_OPERATION_LIMITS, type OperationLimits } from './config.js';
import { createContext, type Context, type ContextDependencies } from './context.js';
import { createErrorFormatter, httpError, MAX_BODY, toHttpError } from './errors.js';
import { createGraphQLPostHandler } from './graphql-post-handler.js';
import type { MemberImport } from './admin/member-import.js';
import { ADMIN_LIMITS } from './admin/admin-input.js';
import { MEMBER_IMPORT_PATH, memberImportRoute } from './member-import-route.js';
import { queueBoardRoutes, type QueueBoard } from './queue-board/index.js';
import { compiledExecution } from './graphql/compiled-execution.js';
import { operationLimits } from './graphql/operation-limits.js';
import { createSubgraphSchema } from './graphql/schema.js';
import { variablesDepthLimit } from './graphql/variables-depth-limit.js';
import type { Logger } from './logger.js';
import { graphqlMetricsPlugin } from './metrics/graphql-metrics-plugin.js';
import { METRICS_PATH, metricsEndpoint } from './metrics/metrics-endpoint.js';
import { createAccessLog } from './access-log.js';
import { readinessResponse } from './readiness-response.js';
import type { ReadinessReport } from './stores/readiness.js';

export interface ServerOptions {
  /** Whether the schema can be introspected. */
  introspection: boolean;
  /** Whether `GET /` shows Apollo Sandbox; production turns it off. */
  landingPage: boolean;
  /** Emit `@requiresScopes` in the subgraph SDL. @defaultValue false */
  federationAuthDirectives?: boolean;
  /** What one operation may ask for. @defaultValue DEFAULT_OPERATION_LIMITS */
  limits?: OperationLimits;
  /** Execute with graphql-jit (graphql-js for what it cannot compile and for traced requests). @defaultValue true */
  compiledExecution?: boolean;
  /** The largest member list `PUT /admin/segments/{id}/members` accepts, in bytes after decompression. @defaultValue ADMIN_LIMITS.maxImportBytes */
  memberImportMaxBytes?: number;
  /** Mark the queue board's session cookie `Secure` (HTTPS only). @defaultValue false; production sets it */
  secureAdminCookie?: boolean;
}

export interface ServerDependencies extends ContextDependencies {
  /** Replaces STATIC segments' members from CSV lists (the admin route beside GraphQL). */
  memberImport: MemberImport;
  logger: Logger;
  /** Which backing stores answer; `/health/ready` reports it. */
  checkReadiness: () => Promise<ReadinessReport>;
  /** Bull Board at `/admin/queues`, with its sign-in; absent, there is no board. The caller closes it. */
  queueBoard?: QueueBoard;
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
  // Until listen() has started Apollo Server, every request goes to Express.
  let fastPath: ReturnType<typeof createGraphQLPostHandler<Context>> | undefined;
  const accessLog = createAccessLog(deps.logger);
  const httpServer = http.createServer((req, res) => {
    accessLog(req, res);
    if (fastPath?.accepts(req)) fastPath.handle(req, res);
    else app(req, res);
  });
  const onErrorBeforeGraphQL = (err: unknown) => deps.logger.error({ err }, 'internal error before GraphQL');
  const maxima = options.limits ?? DEFAULT_OPERATION_LIMITS;
  const limits = operationLimits(maxima);
  const schema = createSubgraphSchema({ authDirectives: options.federationAuthDirectives ?? false });
  const apollo = new ApolloServer<Context>({
    ...((options.compiledExecution ?? true) ? { gateway: compiledExecution(schema) } : { schema }),
    introspection: options.introspection,
    logger: deps.logger,
    includeStacktraceInErrorResponses: false,
    // The composition root owns shutdown: it stops the workers and stores too, in order.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter((error) => deps.logger.error({ err: error }, 'internal error in operation')),
    validationRules: limits.validationRules,
    // graphql-js counts tokens while parsing: an oversized document is a parse error (HTTP 400).
    parseOptions: { maxTokens: maxima.maxTokens },
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      variablesDepthLimit(),
      graphqlMetricsPlugin(),
      accessLog.plugin,
      ...limits.plugins,
      // Membership answers are per customer and never HTTP-cacheable; the
      // plugin would only add a hook to every resolved field.
      ApolloServerPluginCacheControlDisabled(),
      options.landingPage
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false })
        : ApolloServerPluginLandingPageDisabled(),
    ],
  });

  app.get(METRICS_PATH, metricsEndpoint(deps.logger));
  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/health/ready', async (_req, res) => {
    const report = await deps.checkReadiness();
    for (const [dependency, err] of Object.entries(report.errors)) deps.logger.warn({ err, dependency }, 'readiness check failed');
    const answer = readinessResponse(report);
    res.status(answer.status).json(answer.body);
  });
  app.put(
    MEMBER_IMPORT_PATH,
    memberImportRoute({
      memberImport: deps.memberImport,
      verifyToken: deps.verifyToken,
      maxBytes: options.memberImportMaxBytes ?? ADMIN_LIMITS.maxImportBytes,
      onInternalError: (err) => deps.logger.error({ err }, 'internal error in the member import'),
    }),
  );
  if (deps.queueBoard) {
    app.use(
      queueBoardRoutes({
        board: deps.queueBoard,
        verifyToken: deps.verifyToken,
        secureCookie: options.secureAdminCookie ?? false,
        onInternalError: (err) => deps.logger.error({ err }, 'internal error in the queue board'),
      }),
    );
  }

  return {
    httpServer,
    async listen(port, host) {
      await apollo.start();
      fastPath = createGraphQLPostHandler(
        apollo,
        async (req) => accessLog.track(createContext(deps, req.headers.authorization), req),
        onErrorBeforeGraphQL,
      );
      // GraphQL at `/` only; every answer, refusals included, is GraphQL-shaped JSON.
      app.all(
        '/',
        (req, res, next) => {
          if (req.method !== 'POST' || req.is('application/json')) return next();
          const refused = httpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'A GraphQL POST must have Content-Type: application/json');
          res.status(refused.status).json(refused.body);
        },
        express.json({ limit: MAX_BODY.label }),
        expressMiddleware(apollo, { context: async ({ req }) => accessLog.track(createContext(deps, req.headers.authorization), req) }),
      );
      app.use((_req, res) => {
        const missing = httpError(404, 'NOT_FOUND', 'Not found: GraphQL is served at /');
        res.status(missing.status).json(missing.body);
      });
      const jsonErrors: ErrorRequestHandler = (error, _req, res, _next) => {
        const refused = toHttpError(error, onErrorBeforeGraphQL);
        res.status(refused.status).json(refused.body);
      };
      app.use(jsonErrors);
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
