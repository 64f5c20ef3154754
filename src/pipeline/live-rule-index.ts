import { RuleIndex } from '../rules/rule-index.js';
import type { SegmentComputationRepository } from '../stores/postgres/segment-computation-repository.js';

/**
 * The evaluator's RuleIndex of live RULE segments, kept at the revision of the
 * live rule set (`segment_rule_revision`, bumped in every transaction that
 * changes which rules are live). Each batch reads the revision after taking
 * the evaluation lock and asks for the index at it: a batch never evaluates
 * with rules older than a change that committed before it started, so the
 * changes a recompute's snapshot missed are evaluated with the new rule and
 * journaled for it (issue 15). No announcement is needed, or can be missed.
 */
export class LiveRuleIndex {
  private index = new RuleIndex([]);
  private revision: string | null = null;

  constructor(private readonly source: Pick<SegmentComputationRepository, 'liveRuleSegments'>) {}

  /** The index at `revision` (read from it or later), reloaded when the revision moved. */
  async at(revision: string): Promise<RuleIndex> {
    if (revision !== this.revision) {
      // Read after the revision: it holds that revision's rules or newer ones, never older.
      this.index = new RuleIndex(await this.source.liveRuleSegments());
      this.revision = revision;
    }
    return this.index;
  }
}
