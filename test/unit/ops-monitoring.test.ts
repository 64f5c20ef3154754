import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { serviceMetricNames } from '../helpers/metric-names.js';

// The dashboard and the alerts may only read metrics the service exports
// (src/platform/metrics/, docs/operations.md "Metrics"), prom-client's default metrics under the
// same prefix, and Prometheus's own `up`.
async function defaultMetricNames(): Promise<string[]> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'segments_' });
  return (await registry.getMetricsAsJSON()).map((metric) => metric.name);
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/**
 * The metric names a PromQL expression reads: identifiers outside strings,
 * label matchers, ranges and groupings that are not functions or keywords.
 * Histogram series (`_bucket`, `_count`, `_sum`) count as their histogram.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\$\w+/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)]
    .filter(([, name, call]) => !call && !KEYWORDS.has(name!.toLowerCase()))
    .map(([, name]) => name!.replace(/_(bucket|count|sum)$/, ''));
}

const dashboard = JSON.parse(readFileSync(new URL('../../ops/grafana/segments-dashboard.json', import.meta.url), 'utf8')) as {
  uid: string;
  panels: Array<{ type: string; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string }> }>;
};
const alertGroups = (
  parseYaml(readFileSync(new URL('../../ops/prometheus/alerts.yml', import.meta.url), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
  }
).groups;
const alerts = alertGroups.flatMap((group) => group.rules);
const panelExpressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => [panel.title, target.expr] as const));

describe('metricNames', () => {
  it.each([
    ['sum by (le) (rate(segments_job_duration_seconds_bucket{outcome="failed"}[5m]))', ['segments_job_duration_seconds']],
    ['a / b > 0.1 and c{x=~"a|b"} offset 5m', ['a', 'b', 'c']],
    ['histogram_quantile(0.99, sum by (le, store) (rate(x_count[$__rate_interval])))', ['x']],
    ['up{job=~"segments-.*"} == 0', ['up']],
  ])('%s reads %j', (expr, names) => expect(metricNames(expr)).toEqual(names));
});

describe('the Grafana dashboard (ops/grafana/segments-dashboard.json)', () => {
  it('has panels that read Prometheus', () => {
    expect(dashboard.uid).toBe('segments');
    expect(panelExpressions.length).toBeGreaterThan(20);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) expect([panel.title, panel.datasource?.uid]).toEqual([panel.title, 'prometheus']);
  });

  it('reads only the metrics the service exports', async () => {
    const allowed = new Set([...(await serviceMetricNames()), ...(await defaultMetricNames())]);
    for (const [title, expr] of panelExpressions) {
      expect([title, metricNames(expr).filter((name) => !allowed.has(name))]).toEqual([title, []]);
    }
  });

  it('shows every metric the service exports', async () => {
    const shown = new Set(panelExpressions.flatMap(([, expr]) => metricNames(expr)));
    expect((await serviceMetricNames()).filter((name) => !shown.has(name))).toEqual([]);
  });
});

describe('the alert rules (ops/prometheus/alerts.yml)', () => {
  it('covers what the issue asks to page on', () => {
    expect(alerts.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(['SegmentsServingErrors', 'SegmentsServingFallback', 'SegmentsMembershipLagHigh', 'SegmentsStale', 'SegmentsJobsFailing', 'SegmentsQueueGrowing']),
    );
  });

  it('reads only the metrics the service exports, and Prometheus `up`', async () => {
    const allowed = new Set([...(await serviceMetricNames()), ...(await defaultMetricNames()), 'up']);
    for (const rule of alerts) expect([rule.alert, metricNames(rule.expr).filter((name) => !allowed.has(name))]).toEqual([rule.alert, []]);
  });

  it('gives every alert a severity, a summary, a description and a runbook', () => {
    for (const rule of alerts) {
      expect([rule.alert, rule.labels?.severity]).toEqual([rule.alert, expect.stringMatching(/^(page|warning)$/)]);
      for (const key of ['summary', 'description', 'runbook']) expect([rule.alert, key, rule.annotations?.[key]]).toEqual([rule.alert, key, expect.stringMatching(/\S/)]);
    }
  });

  it('explains every alert in docs/operations.md', () => {
    const operations = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    expect(alerts.map((rule) => rule.alert).filter((name) => !operations.includes(`\`${name}\``))).toEqual([]);
  });
});
