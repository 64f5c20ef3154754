import { register } from 'prom-client';
// Importing the metric modules registers every metric the service exports.
import '../../src/platform/metrics/metrics.js';
import '../../src/platform/metrics/health-gauges.js';

/**
 * The names of the metrics the service defines (src/platform/metrics/), read from the
 * registry they are defined on: what dashboards, alerts and the /metrics
 * tests hold the service to, with no list kept by hand beside the code.
 * prom-client's default process metrics are not among them.
 */
export async function serviceMetricNames(): Promise<string[]> {
  return (await register.getMetricsAsJSON()).map((metric) => metric.name).filter((name) => SERVICE_METRIC.test(name)).sort();
}

// Default metrics carry the same prefix; the service's own are the ones not named like them.
const SERVICE_METRIC = /^segments_(?!process_|nodejs_)/;
