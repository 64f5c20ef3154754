/**
 * `work`, or a rejection with `expired()` once `ms` have passed without it
 * settling: a caller that must answer in time (a readiness probe, a scrape)
 * stops waiting for a store that does not answer. The work itself goes on.
 */
export function within<T>(work: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
