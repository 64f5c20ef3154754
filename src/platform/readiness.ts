import { within } from './deadline.js';

/** The outcome of one dependency's check. */
export type CheckStatus = 'ok' | 'failed';

/** What `StoreClients.checkReadiness()` found: which dependency answered and which did not. */
export interface ReadinessReport {
  /** True when every check passed. */
  ok: boolean;
  /** One entry per dependency, e.g. `{ postgres: 'ok', redis: 'failed' }`: safe to show to anyone. */
  checks: Record<string, CheckStatus>;
  /** The error of each failed check, for the log only (never sent in an answer). */
  errors: Record<string, unknown>;
}

/** A check that gets no answer within this long has failed: a readiness probe must answer before its own timeout (Kubernetes: 1 s by default). */
export const READINESS_CHECK_TIMEOUT_MS = 800;

export class ReadinessTimeoutError extends Error {
  constructor(readonly dependency: string, readonly timeoutMs: number) {
    super(`${dependency} did not answer within ${timeoutMs} ms`);
    this.name = 'ReadinessTimeoutError';
  }
}

/**
 * Runs every check at once, each bounded by `timeoutMs`, and reports each
 * one's outcome; never rejects.
 */
export async function runReadinessChecks(
  checks: Record<string, () => Promise<unknown>>,
  timeoutMs = READINESS_CHECK_TIMEOUT_MS,
): Promise<ReadinessReport> {
  const names = Object.keys(checks);
  const outcomes = await Promise.allSettled(names.map((name) => withTimeout(name, checks[name]!, timeoutMs)));
  const report: ReadinessReport = { ok: true, checks: {}, errors: {} };
  outcomes.forEach((outcome, i) => {
    const name = names[i]!;
    report.checks[name] = outcome.status === 'fulfilled' ? 'ok' : 'failed';
    if (outcome.status === 'rejected') {
      report.ok = false;
      report.errors[name] = outcome.reason;
    }
  });
  return report;
}

function withTimeout(name: string, check: () => Promise<unknown>, timeoutMs: number): Promise<unknown> {
  return within(Promise.resolve().then(check), timeoutMs, () => new ReadinessTimeoutError(name, timeoutMs));
}
