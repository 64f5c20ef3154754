import http from 'node:http';
import type { Logger } from '../platform/logger.js';
import { METRICS_PATH, metricsEndpoint } from '../platform/metrics/metrics-endpoint.js';
import { readinessResponse } from './readiness-response.js';
import type { ReadinessReport } from '../platform/readiness.js';

export interface OpsServerDependencies {
  logger: Logger;
  /** Which backing stores answer; `/health/ready` reports it, as the subgraph's does. */
  checkReadiness: () => Promise<ReadinessReport>;
}

export interface OpsServer {
  /** Listens; resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number>;
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

/**
 * The worker role's small operations listener (config WORKER_PORT): `GET
 * /metrics`, `/health/live` (200 while the process runs) and `/health/ready`
 * (200 when Postgres and Redis answer, 503 naming the one that failed). Role
 * `all` does not start it: the subgraph's port serves the same paths.
 */
export function createOpsServer(deps: OpsServerDependencies): OpsServer {
  const metrics = metricsEndpoint(deps.logger);
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    switch (path) {
      case METRICS_PATH:
        return metrics(req, res);
      case '/health/live':
        return json(res, 200, { status: 'ok' });
      case '/health/ready':
        // checkReadiness never rejects: each dependency is reported as ok or failed.
        void deps.checkReadiness().then((report) => {
          const { status, body } = readinessResponse(report);
          json(res, status, body);
        });
        return;
      default:
        return json(res, 404, { error: 'not found' });
    }
  });
  return {
    async listen(port, host) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      const address = server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
