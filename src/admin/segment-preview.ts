import { BadUserInputError } from '../errors.js';
import { parseSegmentId } from '../graphql/segment-id.js';
import { compileMembersQuery } from '../rules/compile-sql.js';
import type { RuleChangePreview, RulePreview, RulePreviewRepository } from '../stores/postgres/rule-preview-repository.js';
import type { SegmentRepository } from '../stores/postgres/segment-repository.js';
import { ADMIN_LIMITS, check, sampleSize as sampleSizeSchema } from './admin-input.js';
import { resolveRule } from './resolve-rule.js';

/** Previews of rules, evaluated now with the same compiler the workers use. Nothing is saved. */
export class SegmentPreviewer {
  constructor(
    private readonly segments: SegmentRepository,
    private readonly previews: RulePreviewRepository,
  ) {}

  async preview(ruleInput: unknown, sampleSize: number | null | undefined): Promise<RulePreview & { computedAt: Date }> {
    const size = check(sampleSizeSchema, sampleSize ?? ADMIN_LIMITS.defaultSampleSize, 'sampleSize');
    const { rule } = await resolveRule(ruleInput, 'rule', this.segments);
    const computedAt = new Date();
    return { ...(await this.previews.preview(compileMembersQuery(rule, { asOf: computedAt }), size)), computedAt };
  }

  async previewChange(id: string, ruleInput: unknown, sampleSize: number | null | undefined): Promise<RuleChangePreview & { computedAt: Date }> {
    const size = check(sampleSizeSchema, sampleSize ?? ADMIN_LIMITS.defaultSampleSize, 'sampleSize');
    const segmentId = parseSegmentId(id);
    const [segment] = segmentId === null ? [] : await this.segments.findByIds([segmentId]);
    if (!segment) throw new BadUserInputError(`id: there is no segment ${JSON.stringify(id)}`, 'id');
    if (segment.kind !== 'RULE') throw new BadUserInputError(`id: segment ${segment.id} is STATIC and has no rule to change`, 'id');
    const { rule } = await resolveRule(ruleInput, 'rule', this.segments, segment.id);
    const computedAt = new Date();
    return { ...(await this.previews.previewChange(segment.id, compileMembersQuery(rule, { asOf: computedAt }), size)), computedAt };
  }
}
