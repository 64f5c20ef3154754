import { z } from 'zod';
import { BadUserInputError } from '../platform/errors.js';
import { formatPath } from '../rules/parse-rule.js';

/** Limits of admin inputs (docs/api.md "Admin API"). */
export const ADMIN_LIMITS = {
  maxNameLength: 100,
  maxDescriptionLength: 1000,
  // The safety net is a full recompute (a scan of the orders of the rule's stores); the event path keeps
  // memberships exact in between, so a shorter period buys nothing but load.
  minRefreshMinutes: 15,
  maxRefreshMinutes: 10_080,
  maxCustomerIds: 10_000,
  maxCustomerIdLength: 200,
  /** The largest member list an import accepts, in bytes (MEMBER_IMPORT_MAX_BYTES): about 10 million ids of 20 characters. */
  maxImportBytes: 256 * 1024 * 1024,
  maxSampleSize: 100,
  maxIdempotencyKeyLength: 200,
  defaultSampleSize: 10,
  /** Segments not archived at once, unless MAX_LIVE_SEGMENTS says otherwise: what the pipeline is built and measured for. */
  defaultMaxLiveSegments: 100_000,
} as const;

export const segmentName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(ADMIN_LIMITS.maxNameLength, `must be at most ${ADMIN_LIMITS.maxNameLength} characters`);
export const segmentDescription = z
  .string()
  .max(ADMIN_LIMITS.maxDescriptionLength, `must be at most ${ADMIN_LIMITS.maxDescriptionLength} characters`)
  .nullable();
export const refreshEveryMinutes = z
  .number()
  .int()
  .min(ADMIN_LIMITS.minRefreshMinutes, `must be between ${ADMIN_LIMITS.minRefreshMinutes} and ${ADMIN_LIMITS.maxRefreshMinutes}`)
  .max(ADMIN_LIMITS.maxRefreshMinutes, `must be between ${ADMIN_LIMITS.minRefreshMinutes} and ${ADMIN_LIMITS.maxRefreshMinutes}`);
export const customerId = z
  .string()
  .min(1, 'must not be empty')
  .max(ADMIN_LIMITS.maxCustomerIdLength, `must be at most ${ADMIN_LIMITS.maxCustomerIdLength} characters`);
export const customerIds = z
  .array(customerId)
  .min(1, 'must not be empty')
  .max(ADMIN_LIMITS.maxCustomerIds, `must have at most ${ADMIN_LIMITS.maxCustomerIds} ids per call`);
export const idempotencyKey = z
  .string()
  .min(1, 'must not be empty')
  .max(ADMIN_LIMITS.maxIdempotencyKeyLength, `must be at most ${ADMIN_LIMITS.maxIdempotencyKeyLength} characters`);
/** A segment's rule version: 1 at creation, one more at every rule change. */
export const version = z.number().int().min(1, 'must be a version, 1 or more');
export const expectedVersion = version;
export const sampleSize = z
  .number()
  .int()
  .min(0, `must be between 0 and ${ADMIN_LIMITS.maxSampleSize}`)
  .max(ADMIN_LIMITS.maxSampleSize, `must be between 0 and ${ADMIN_LIMITS.maxSampleSize}`);

/** Joins a field path and a sub-path: `input` + `rule.all[0]` -> `input.rule.all[0]`. */
export function fieldPath(base: string, sub: ReadonlyArray<PropertyKey> | string): string {
  const rest = typeof sub === 'string' ? sub : formatPath(sub);
  if (!rest) return base;
  return rest.startsWith('[') ? `${base}${rest}` : `${base}.${rest}`;
}

/** Parses `value` or throws BAD_USER_INPUT naming `field` (and the path inside it). */
export function check<T extends z.ZodType>(schema: T, value: unknown, field: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ field: fieldPath(field, issue.path), message: issue.message }));
  throw new BadUserInputError(`${issues[0]!.field} ${issues[0]!.message}`, issues[0]!.field, issues);
}
