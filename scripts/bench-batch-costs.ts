import { readFileSync } from 'node:fs';

/**
 * One evaluated batch, as the worker logs it at debug level (`changes
 * evaluated`, src/pipeline/change-evaluator.ts). A field the worker does not log
 * (`conditions` before issue 15) is null.
 */
export interface BatchLine {
  /** pino's `time`: when the batch was done, epoch ms. */
  time: number;
  changes: number;
  customers: number | null;
  /** Distinct conditions evaluated. */
  conditions: number | null;
  /** Segments evaluated. */
  segments: number | null;
  entered: number | null;
  left: number | null;
  ms: number;
  maxLagMs: number | null;
}

const BATCH_MESSAGE = 'changes evaluated';

const numberOrNull = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** pino JSON lines with message `msg` logged in `files` within [fromMs, toMs] (by their `time`), oldest first. */
export function readLogLines(files: readonly string[], msg: string, fromMs: number, toMs: number): Array<Record<string, unknown> & { time: number }> {
  const entries: Array<Record<string, unknown> & { time: number }> = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes(msg)) continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      const time = numberOrNull(entry.time);
      if (entry.msg === msg && time !== null && time >= fromMs && time <= toMs) entries.push({ ...entry, time });
    }
  }
  return entries.sort((a, b) => a.time - b.time);
}

/** The batches logged in `files` (workers' logs) that finished within [fromMs, toMs]. */
export function readBatchLines(files: readonly string[], fromMs: number, toMs: number): BatchLine[] {
  return readLogLines(files, BATCH_MESSAGE, fromMs, toMs).flatMap((entry) => {
    const changes = numberOrNull(entry.changes);
    const ms = numberOrNull(entry.ms);
    if (changes === null || ms === null) return [];
    return [
      {
        time: entry.time,
        changes,
        customers: numberOrNull(entry.customers),
        conditions: numberOrNull(entry.conditions),
        segments: numberOrNull(entry.segments),
        entered: numberOrNull(entry.entered),
        left: numberOrNull(entry.left),
        ms,
        maxLagMs: numberOrNull(entry.maxLagMs),
      },
    ];
  });
}

/** p50 and max of a per-batch figure; nulls when no batch logged it. */
export interface Spread {
  p50: number | null;
  max: number | null;
}

/** What the batches of one phase cost. */
export interface BatchCosts {
  batches: number;
  changes: number;
  changesPerBatch: Spread;
  customersPerBatch: Spread;
  conditionsPerBatch: Spread;
  segmentsPerBatch: Spread;
  /** entered + left over every batch; null when no batch logged them. */
  flips: number | null;
  msPerBatch: { p50: number | null; p99: number | null; max: number | null };
  /** Per batch, ms / changes in µs: the median batch. */
  usPerOrderP50: number | null;
  /** Every batch's ms over every change, in µs. */
  usPerOrderOverall: number | null;
  /** Batches of the phase with the longest `maxLagMs`. */
  maxLagMs: number | null;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function spread(values: ReadonlyArray<number | null>): Spread {
  const present = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  return { p50: quantile(present, 0.5), max: present.at(-1) ?? null };
}

const round = (n: number | null, digits = 1) => (n === null ? null : Number(n.toFixed(digits)));

export function batchCosts(lines: readonly BatchLine[]): BatchCosts {
  const ms = lines.map((l) => l.ms).sort((a, b) => a - b);
  const changes = lines.reduce((sum, l) => sum + l.changes, 0);
  const totalMs = lines.reduce((sum, l) => sum + l.ms, 0);
  const flipLines = lines.filter((l) => l.entered !== null || l.left !== null);
  const perOrder = lines.filter((l) => l.changes > 0).map((l) => (l.ms * 1000) / l.changes);
  return {
    batches: lines.length,
    changes,
    changesPerBatch: spread(lines.map((l) => l.changes)),
    customersPerBatch: spread(lines.map((l) => l.customers)),
    conditionsPerBatch: spread(lines.map((l) => l.conditions)),
    segmentsPerBatch: spread(lines.map((l) => l.segments)),
    flips: flipLines.length === 0 ? null : flipLines.reduce((sum, l) => sum + (l.entered ?? 0) + (l.left ?? 0), 0),
    msPerBatch: { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: ms.at(-1) ?? null },
    usPerOrderP50: round(quantile(perOrder.sort((a, b) => a - b), 0.5)),
    usPerOrderOverall: changes === 0 ? null : round((totalMs * 1000) / changes),
    maxLagMs: spread(lines.map((l) => l.maxLagMs)).max,
  };
}

/** The cost table's columns, one row per phase (docs/benchmarks.md). */
export const BATCH_COST_HEADER = [
  'phase',
  'batches',
  'changes/batch p50',
  'max',
  'customers p50',
  'conditions p50',
  'segments p50',
  'segments max',
  'flips',
  'ms/batch p50',
  'p99',
  'µs/order p50',
  'µs/order overall',
];

export function batchCostRow(phase: string, c: BatchCosts): string[] {
  const show = (n: number | null) => (n === null ? 'n/a' : String(n));
  return [
    phase,
    String(c.batches),
    show(c.changesPerBatch.p50),
    show(c.changesPerBatch.max),
    show(c.customersPerBatch.p50),
    show(c.conditionsPerBatch.p50),
    show(c.segmentsPerBatch.p50),
    show(c.segmentsPerBatch.max),
    show(c.flips),
    show(c.msPerBatch.p50),
    show(c.msPerBatch.p99),
    show(c.usPerOrderP50),
    show(c.usPerOrderOverall),
  ];
}
