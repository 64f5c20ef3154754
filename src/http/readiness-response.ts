import type { ReadinessReport } from '../platform/readiness.js';

/**
 * The answer of `GET /health/ready` (subgraph and worker listeners alike):
 * 200 `{ status: 'ok', checks }` or 503 `{ status: 'unavailable', checks }`,
 * where `checks` names each dependency, e.g. `{ postgres: 'ok', redis: 'failed' }`.
 */
export function readinessResponse(report: ReadinessReport): { status: 200 | 503; body: { status: 'ok' | 'unavailable'; checks: ReadinessReport['checks'] } } {
  return report.ok
    ? { status: 200, body: { status: 'ok', checks: report.checks } }
    : { status: 503, body: { status: 'unavailable', checks: report.checks } };
}
