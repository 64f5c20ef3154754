import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout, one line per event (pino's defaults). */
export function createLogger(level: string, name = 'segments'): Logger {
  return pino({ name, level });
}
