import type http from 'node:http';
import type { Logger } from '../logger.js';
import './health-gauges.js';
import { collectProcessMetrics, registry } from './metrics.js';

/** The path of the Prometheus text, on the subgraph and the worker's operations listener. */
export const METRICS_PATH = '/metrics';

/** Answers `GET /metrics` with every metric of this process in Prometheus text format. */
export function metricsEndpoint(logger: Logger): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  collectProcessMetrics();
  return (_req, res) => {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics could not be rendered');
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
  };
}
