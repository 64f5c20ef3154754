import { parseSegmentId } from '../domain/segment-id.js';
import { BadUserInputError } from '../platform/errors.js';
import { compileExplanationQuery } from '../rules/compile-sql.js';
import { explainListing, explainRule, explainUnknownCustomer, type ClauseExplanation } from '../rules/explain-rule.js';
import { conditionsOf } from '../rules/rule.js';
import type { MembershipExplanationRepository } from '../stores/postgres/membership-explanation-repository.js';
import type { SegmentRecord, SegmentRepository } from '../stores/postgres/segment-repository.js';
import { check, customerId as customerIdSchema } from './admin-input.js';

/** Why a customer is or is not in a segment by its definition now; what is served is the resolver's to add. */
export interface MembershipExplanation {
  segment: SegmentRecord;
  customerId: string;
  /** The definition evaluated now: the rule, or the STATIC list. */
  member: boolean;
  evaluatedAt: Date;
  /** Pre-order, the whole rule first. */
  clauses: ClauseExplanation[];
}

/**
 * Explains one customer's membership of one segment (issue 9, item 1). The
 * verdict and every condition's facts come from one statement compiled by the
 * pipeline's own compiler, in the event path's form; explain-rule turns them
 * into clauses. Archived and quarantined segments are explained all the same:
 * the definition as it stands.
 */
export class MembershipExplainer {
  constructor(
    private readonly segments: Pick<SegmentRepository, 'findByIds'>,
    private readonly explanations: MembershipExplanationRepository,
    /** The time definitions are evaluated at. @defaultValue the current time */
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async explain(segmentIdInput: string, customerIdInput: string): Promise<MembershipExplanation> {
    const customerId = check(customerIdSchema, customerIdInput, 'customerId');
    const segmentId = parseSegmentId(segmentIdInput);
    // Read from Postgres, not the segment cache: the rule explained is the one stored now.
    const [segment] = segmentId === null ? [] : await this.segments.findByIds([segmentId]);
    if (!segment) throw new BadUserInputError(`segmentId: there is no segment ${JSON.stringify(segmentIdInput)}`, 'segmentId');
    const evaluatedAt = this.clock();
    const explained = { segment, customerId, evaluatedAt };
    if (!segment.rule) {
      const listed = await this.explanations.listed(segment.id, customerId);
      return { ...explained, member: listed, clauses: explainListing(segment.id, listed) };
    }
    const rule = segment.rule;
    const facts = await this.explanations.ruleFacts(compileExplanationQuery(rule, { asOf: evaluatedAt, customerId }), conditionsOf(rule).length);
    if (!facts) return { ...explained, member: false, clauses: explainUnknownCustomer(rule, customerId) };
    return { ...explained, member: facts.member, clauses: explainRule(rule, facts.conditions, evaluatedAt) };
  }
}
