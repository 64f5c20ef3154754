import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type ErrorRequestHandler } from 'express';
import { DEFAULT_OPERATION_LIMITS, type OperationLimits } from '../platform/config.js';
import { createContext, type Context, type ContextDependencies } from '../graphql/context.js';
import { createErrorFormatter, httpError, MAX_BODY, toHttpError } from '../platform/errors.js';
import { createGraphQLPostHandler } from './graphql-post-handler.js';
import type { MemberImport } from '../admin/member-import.js';
import { ADMIN_LIMITS } from '../admin/admin-input.js';
import { MEMBER_IMPORT_PATH, memberImportRoute } from './member-import-route.js';
import { QUEUE_BOARD_PATH, queueBoardRoutes, SIGN_IN_PATH, SIGN_OUT_PATH, type QueueBoard } from './queue-board/index.js';
import { compiledExecution } from '../graphql/compiled-execution.js';
import { operationLimits } from '../graphql/operation-limits.js';
import { createSubgraphSchema } from '../graphql/schema.js';
import { deepDocumentRefusal } from '../graphql/document-nesting-limit.js';
import { entityRepresentations } from '../graphql/entity-representations.js';
import { storableText } from '../graphql/storable-text.js';
import { variablesDepthLimit } from '../graphql/variables-depth-limit.js';
import type { Logger } from '../platform/logger.js';
import { graphqlMetricsPlugin } from '../platform/metrics/graphql-metrics-plugin.js';
import { METRICS_PATH, metricsEndpoint } from '../platform/metrics/metrics-endpoint.js';
import { createAccessLog } from './access-log.js';
import { DEFAULT_CONNECTION_TIMEOUTS, type ConnectionTimeouts } from '../platform/connection-timeouts-config.js';
import { applyBodyIdleTimeout, serverOptions } from './connection-timeouts.js';
import { routerSecretCheck, routerSecretRefusal, type RouterSecretOptions } from './router-secret.js';
import { readinessResponse } from './readiness-response.js';
import type { ReadinessReport } from '../platform/readiness.js';

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
  /**
   * Answer GraphQL and the member import only to requests carrying the
   * router's shared secret (docs/configuration.md "Router-only access"); absent, anyone who
   * reaches the port may query. @defaultValue undefined
   */
  routerSecret?: RouterSecretOptions;
  /** How long a client may take to send its request. @defaultValue DEFAULT_CONNECTION_TIMEOUTS */
  timeouts?: ConnectionTimeouts;
  /** Serve `/metrics` on this server's port; false when a listener of its own serves it (METRICS_PORT). @defaultValue true */
  metrics?: boolean;
}

// Paths a request without the router's secret may still reach: probes, the
// metrics scrape, and the queue board, which has a sign-in of its own.
const OPEN_PATHS = new Set(['/health/live', '/health/ready', METRICS_PATH, SIGN_IN_PATH, SIGN_OUT_PATH]);
const isOpenPath = (url: string | undefined) => {
  const path = (url ?? '/').split('?')[0]!;
  return OPEN_PATHS.has(path) || path === QUEUE_BOARD_PATH || path.startsWith(`${QUEUE_BOARD_PATH}/`);
};

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
  app.disable('x-powered-by');
  // Until listen() has started Apollo Server, every request goes to Express.
  let fastPath: ReturnType<typeof createGraphQLPostHandler<Context>> | undefined;
  const accessLog = createAccessLog(deps.logger);
  const fromRouter = options.routerSecret ? routerSecretCheck(options.routerSecret) : () => true;
  const notFromRouter = routerSecretRefusal(options.routerSecret?.header ?? 'Router-Authorization');
  const timeouts = options.timeouts ?? DEFAULT_CONNECTION_TIMEOUTS;
  const httpServer = http.createServer(serverOptions(timeouts), (req, res) => {
    watchBody(req, res);
    accessLog(req, res);
    if (!fromRouter(req) && !isOpenPath(req.url)) {
      // The body is never read: close rather than drain it.
      res.writeHead(notFromRouter.status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      return void res.end(JSON.stringify(notFromRouter.body));
    }
    if (fastPath?.accepts(req)) fastPath.handle(req, res);
    else app(req, res);
  });
  const watchBody = applyBodyIdleTimeout(httpServer, timeouts);
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
      storableText(),
      entityRepresentations(),
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

  if (options.metrics ?? true) app.get(METRICS_PATH, metricsEndpoint(deps.logger));
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
        (req, res, next) => {
          const tooDeep = deepDocumentRefusal((req.method === 'GET' ? req.query : (req.body as { query?: unknown } | undefined))?.query);
          if (!tooDeep) return next();
          res.status(tooDeep.status).json(tooDeep.body);
        },
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
