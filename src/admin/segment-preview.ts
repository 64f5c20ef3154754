import type { Principal } from '../auth/token-verifier.js';
import { BadUserInputError, PreviewTimeoutError, TooManyRequestsError } from '../platform/errors.js';
import { parseSegmentId } from '../domain/segment-id.js';
import { compileMembersQuery } from '../rules/compile-sql.js';
import {
  PreviewConnectionTimeout,
  PreviewStatementTimeout,
  type RuleChangePreview,
  type RulePreview,
  type RulePreviewRepository,
} from '../stores/postgres/rule-preview-repository.js';
import type { SegmentRepository } from '../stores/postgres/segment-repository.js';
import { ADMIN_LIMITS, check, sampleSize as sampleSizeSchema } from './admin-input.js';
import { CallerConcurrency } from './caller-concurrency.js';
import { resolveRule } from './resolve-rule.js';

export interface SegmentPreviewerOptions {
  /**
   * Previews one caller (a token's `sub`) may run at once in this process;
   * another one is refused with TOO_MANY_REQUESTS rather than queued.
   * @defaultValue 1
   */
  maxConcurrentPerCaller?: number;
}

/**
 * Previews of rules, evaluated now with the same compiler the workers use.
 * Nothing is saved. The statements run on the preview pool, whose timeouts
 * bound them (docs/api.md "Admin API limits").
 */
export class SegmentPreviewer {
  private readonly concurrency: CallerConcurrency;

  constructor(
    private readonly segments: SegmentRepository,
    private readonly previews: RulePreviewRepository,
    options: SegmentPreviewerOptions = {},
  ) {
    this.concurrency = new CallerConcurrency(options.maxConcurrentPerCaller ?? 1);
  }

  async preview(caller: Principal, ruleInput: unknown, sampleSize: number | null | undefined): Promise<RulePreview & { computedAt: Date }> {
    const size = check(sampleSizeSchema, sampleSize ?? ADMIN_LIMITS.defaultSampleSize, 'sampleSize');
    return this.bounded(caller, async () => {
      const { rule } = await resolveRule(ruleInput, 'rule', this.segments);
      const computedAt = new Date();
      return { ...(await this.previews.preview(compileMembersQuery(rule, { asOf: computedAt }), size)), computedAt };
    });
  }

  async previewChange(
    caller: Principal,
    id: string,
    ruleInput: unknown,
    sampleSize: number | null | undefined,
  ): Promise<RuleChangePreview & { computedAt: Date }> {
    const size = check(sampleSizeSchema, sampleSize ?? ADMIN_LIMITS.defaultSampleSize, 'sampleSize');
    return this.bounded(caller, async () => {
      const segmentId = parseSegmentId(id);
      const [segment] = segmentId === null ? [] : await this.segments.findByIds([segmentId]);
      if (!segment) throw new BadUserInputError(`id: there is no segment ${JSON.stringify(id)}`, 'id');
      if (segment.kind !== 'RULE') throw new BadUserInputError(`id: segment ${segment.id} is STATIC and has no rule to change`, 'id');
      const { rule } = await resolveRule(ruleInput, 'rule', this.segments, segment.id);
      const computedAt = new Date();
      return { ...(await this.previews.previewChange(segment.id, compileMembersQuery(rule, { asOf: computedAt }), size)), computedAt };
    });
  }

  /** Runs one preview of `caller` within the caller's concurrency, with the pool's timeouts as caller errors. */
  private async bounded<T>(caller: Principal, preview: () => Promise<T>): Promise<T> {
    const release = this.concurrency.tryAcquire(caller.subject);
    if (!release) {
      throw new TooManyRequestsError(
        'Another preview by the same caller is still running; wait for it to finish before starting the next',
        'previewsPerToken',
      );
    }
    try {
      return await preview();
    } catch (error) {
      if (error instanceof PreviewStatementTimeout) throw new PreviewTimeoutError(error.timeoutMs);
      if (error instanceof PreviewConnectionTimeout) {
        throw new TooManyRequestsError(`No preview connection was free within ${error.timeoutMs} ms; try again in a moment`, 'previewPool');
      }
      throw error;
    } finally {
      release();
    }
  }
}
