import { BadUserInputError } from '../platform/errors.js';
import { parseSegmentId } from '../domain/segment-id.js';
import { parseRule } from '../rules/parse-rule.js';
import { referencedSegments, type Rule } from '../rules/rule.js';
import type { SegmentRepository } from '../stores/postgres/segment-repository.js';
import { fieldPath } from './admin-input.js';

export interface ResolvedRule {
  rule: Rule;
  /** The segments the rule reads through inSegment. */
  dependsOn: number[];
}

/**
 * Turns a rule from a client into a normalized rule whose references hold:
 * every inSegment names a live segment, and (for `selfId`) none leads back
 * to the segment itself. Throws BAD_USER_INPUT naming the offending field,
 * under `field` (e.g. `input.rule`).
 */
export async function resolveRule(
  input: unknown,
  field: string,
  segments: SegmentRepository,
  selfId?: number,
): Promise<ResolvedRule> {
  const parsed = parseRule(input);
  if (!parsed.ok) {
    const issues = parsed.issues.map((issue) => ({ field: fieldPath(field, issue.path), message: issue.message }));
    throw new BadUserInputError(`${issues[0]!.field} ${issues[0]!.message}`, issues[0]!.field, issues);
  }
  const { rule } = parsed;
  const ids = [...referencedSegments(rule)].map((id) => parseSegmentId(id)!);
  const pathOf = (id: number) => fieldPath(field, inSegmentPath(input, String(id)) ?? '');

  const found = new Map((await segments.findByIds(ids)).map((s) => [s.id, s]));
  for (const id of ids) {
    const segment = found.get(id);
    if (!segment) throw new BadUserInputError(`${pathOf(id)} names no segment: there is no segment ${id}`, pathOf(id));
    if (segment.status === 'ARCHIVED') throw new BadUserInputError(`${pathOf(id)} names segment ${id}, which is archived`, pathOf(id));
  }
  if (selfId !== undefined) {
    const circular = ids.includes(selfId) ? selfId : (await segments.reaching(ids, selfId))[0];
    if (circular !== undefined) {
      throw new BadUserInputError(
        `${pathOf(circular)} would make the rule circular: segment ${circular} ${circular === selfId ? 'is this segment' : 'depends on this segment'}`,
        pathOf(circular),
      );
    }
  }
  return { rule, dependsOn: ids };
}

/** Where in the client's (not normalized) rule the first `inSegment: id` is, e.g. `all[1].not.inSegment`. */
function inSegmentPath(node: unknown, id: string, path = ''): string | null {
  if (node === null || typeof node !== 'object') return null;
  const n = node as Record<string, unknown>;
  if (n.inSegment === id) return path ? `${path}.inSegment` : 'inSegment';
  for (const key of ['all', 'any'] as const) {
    const children = n[key];
    if (!Array.isArray(children)) continue;
    for (const [i, child] of children.entries()) {
      const found = inSegmentPath(child, id, `${path ? `${path}.` : ''}${key}[${i}]`);
      if (found) return found;
    }
  }
  return n.not ? inSegmentPath(n.not, id, path ? `${path}.not` : 'not') : null;
}
