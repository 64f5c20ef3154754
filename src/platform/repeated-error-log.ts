import type { Logger } from './logger.js';

/** How long identical errors are counted instead of logged. @defaultValue 10 s */
export const REPEATED_ERROR_WINDOW_MS = 10_000;

/**
 * Logs an error as one JSON line with its cause (pino's `err` serializer),
 * but an error identical to one logged less than `windowMs` ago (same source,
 * same code or message) is only counted, and the count is logged as one
 * summary line when the window ends: a store that is away fails every
 * reconnect attempt of every connection, which would otherwise flood the log.
 */
export function repeatedErrorLog(logger: Logger, msg: string, windowMs = REPEATED_ERROR_WINDOW_MS) {
  const recent = new Map<string, { repeated: number; last: unknown; fields: object }>();
  return (err: unknown, fields: Record<string, unknown> = {}): void => {
    const key = `${JSON.stringify(fields)} ${errorKey(err)}`;
    const seen = recent.get(key);
    if (seen) {
      seen.repeated += 1;
      seen.last = err;
      return;
    }
    logger.error({ err, ...fields }, msg);
    const entry = { repeated: 0, last: err, fields };
    recent.set(key, entry);
    setTimeout(() => {
      recent.delete(key);
      if (entry.repeated > 0) logger.error({ err: entry.last, ...fields, repeated: entry.repeated, windowMs }, `${msg} (repeated)`);
    }, windowMs).unref();
  };
}

function errorKey(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}:${typeof code === 'string' || typeof code === 'number' ? code : err.message}`;
  }
  return String(err);
}
