import { createHash } from 'node:crypto';
import type { Principal } from '../auth/token-verifier.js';
import { parseSegmentId } from '../domain/segment-id.js';
import { BadUserInputError, ConflictError, QuotaExceededError } from '../platform/errors.js';
import { DEFAULT_REFRESH_EVERY_MINUTES } from '../jobs/recompute-queue.js';
import type { ChangeOutboxRepository } from '../stores/postgres/change-outbox-repository.js';
import type { MembershipRepository } from '../stores/postgres/membership-repository.js';
import type { SegmentEffectRequest, SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import {
  SegmentNameTakenError,
  type SegmentPatch,
  type SegmentRecord,
  type SegmentRepository,
} from '../stores/postgres/segment-repository.js';
import { ADMIN_LIMITS, check, customerIds, expectedVersion, idempotencyKey, refreshEveryMinutes, segmentDescription, segmentName, version } from './admin-input.js';
import { resolveRule } from './resolve-rule.js';

/**
 * The ports the admin use cases write through, all in Postgres: a change and
 * every side effect it asks for commit together or not at all, and the
 * answer never depends on Redis. The workers carry the effects out
 * (SegmentOutboxRelay; the membership publisher for membership events).
 */
export interface SegmentAdminDependencies {
  segments: Pick<SegmentRepository, 'transaction'>;
  memberships: Pick<MembershipRepository, 'add' | 'remove' | 'recordEvents'>;
  /** Announcements, schedules and recompute requests. */
  outbox: Pick<SegmentOutboxRepository, 'record'>;
  /** Re-evaluation of the RULE segments that read a STATIC segment whose members changed. */
  changeOutbox: Pick<ChangeOutboxRepository, 'recordSegmentInputChanges'>;
  /**
   * Called after a change commits, so that this process's caches drop the
   * segments at once (read your writes); other processes hear it through
   * the outbox.
   */
  committed?: (segmentIds: readonly number[]) => void;
  /** Most segments not archived at once (MAX_LIVE_SEGMENTS); a create past it is refused. @defaultValue ADMIN_LIMITS.defaultMaxLiveSegments */
  maxLiveSegments?: number;
}

export interface CreateSegmentInput {
  name: string;
  description?: string | null;
  rule?: unknown;
  refreshEveryMinutes?: number | null;
  idempotencyKey?: string | null;
}

export interface UpdateSegmentInput {
  name?: string | null;
  description?: string | null;
  rule?: unknown;
  refreshEveryMinutes?: number | null;
  expectedVersion?: number | null;
}

/** What a change wrote and what it asks of the rest of the system. */
interface Outcome<T> {
  result: T;
  effects: SegmentEffectRequest[];
}

/**
 * The admin use cases behind the mutations: validate, then write the change,
 * its history and its side effects (segment outbox) in one Postgres
 * transaction. Invalid input throws BAD_USER_INPUT, and a stale
 * `expectedVersion` CONFLICT, before anything is written.
 */
export class SegmentAdmin {
  constructor(private readonly deps: SegmentAdminDependencies) {}

  async create(input: CreateSegmentInput, actor: Principal): Promise<SegmentRecord> {
    const name = check(segmentName, input.name, 'input.name');
    const description = check(segmentDescription, input.description ?? null, 'input.description');
    const key = input.idempotencyKey == null ? null : check(idempotencyKey, input.idempotencyKey, 'input.idempotencyKey');
    const hasRule = input.rule !== undefined && input.rule !== null;
    if (!hasRule && input.refreshEveryMinutes != null) {
      throw new BadUserInputError('input.refreshEveryMinutes applies only to segments with a rule', 'input.refreshEveryMinutes');
    }
    const refresh = hasRule ? check(refreshEveryMinutes, input.refreshEveryMinutes ?? DEFAULT_REFRESH_EVERY_MINUTES, 'input.refreshEveryMinutes') : null;

    return this.change(async (tx) => {
      // Every create takes the graph lock (not only rule ones): two creates cannot both pass the quota.
      await tx.lockDependencyGraph();
      const resolved = hasRule ? await resolveRule(input.rule, 'input.rule', tx) : null;
      const definition = { name, description, rule: resolved?.rule ?? null, refreshEveryMinutes: refresh, dependsOn: resolved?.dependsOn ?? [] };
      if (key !== null) {
        const hash = requestHash(definition);
        const earlier = await tx.claimCreateRequest(actor.subject, key, hash);
        if (earlier) {
          if (earlier.requestHash !== hash) {
            throw new ConflictError('input.idempotencyKey was already used to create a segment with other input', 'input.idempotencyKey');
          }
          // The segment the first call created, as it is now.
          const [segment] = await tx.findByIds([earlier.segmentId!]);
          return { result: segment!, effects: [] };
        }
      }
      const maxLive = this.deps.maxLiveSegments ?? ADMIN_LIMITS.defaultMaxLiveSegments;
      if ((await tx.liveCount()) >= maxLive) {
        throw new QuotaExceededError(`There are ${maxLive} live segments, the most this deployment allows: archive some first`, 'maxLiveSegments', maxLive);
      }
      const segment = await this.nameChecked(() => tx.create(definition, actor.subject));
      if (key !== null) await tx.completeCreateRequest(actor.subject, key, segment.id);
      const effects: SegmentEffectRequest[] = [{ segmentId: segment.id, effect: 'announce-definition' }];
      // The schedule's first run is at the segment's place in its period: the first computation is asked for now.
      if (segment.kind === 'RULE') effects.push({ segmentId: segment.id, effect: 'sync-schedule' }, { segmentId: segment.id, effect: 'recompute' });
      return { result: segment, effects };
    });
  }

  async update(id: string, input: UpdateSegmentInput, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const patch: SegmentPatch = {};
    if (input.name !== undefined) patch.name = check(segmentName, input.name, 'input.name');
    if (input.description !== undefined) patch.description = check(segmentDescription, input.description, 'input.description');
    if (input.refreshEveryMinutes !== undefined) patch.refreshEveryMinutes = check(refreshEveryMinutes, input.refreshEveryMinutes, 'input.refreshEveryMinutes');
    if (input.rule === null) throw new BadUserInputError('input.rule cannot be removed; archive the segment instead', 'input.rule');
    const expected = input.expectedVersion == null ? null : check(expectedVersion, input.expectedVersion, 'input.expectedVersion');

    return this.change(async (tx) => {
      if (input.rule !== undefined) await tx.lockDependencyGraph();
      const current = this.live(await tx.lock(segmentId), id);
      if (expected !== null && expected !== current.version) {
        throw new ConflictError(
          `input.expectedVersion: segment ${current.id} is at version ${current.version}, not ${expected}; read it again and redo the change`,
          'input.expectedVersion',
          { currentVersion: current.version },
        );
      }
      if (current.kind === 'STATIC') {
        if (input.rule !== undefined) throw new BadUserInputError('input.rule: a STATIC segment has no rule; create a RULE segment instead', 'input.rule');
        if (patch.refreshEveryMinutes !== undefined) {
          throw new BadUserInputError('input.refreshEveryMinutes applies only to segments with a rule', 'input.refreshEveryMinutes');
        }
      }
      if (input.rule !== undefined) {
        const resolved = await resolveRule(input.rule, 'input.rule', tx, segmentId);
        patch.rule = resolved.rule;
        patch.dependsOn = resolved.dependsOn;
      }
      const { segment, changedFields } = await this.nameChecked(() => tx.update(current, patch, actor.subject));
      return { result: segment, effects: definitionEffects(segment.id, changedFields) };
    });
  }

  /**
   * Gives a RULE segment the rule it had at `toVersion`, as a new version
   * recorded as ROLLED_BACK, and asks for its recompute. The old rule is
   * checked again as if it were new: the segments it reads must still be
   * live, and it must not have become circular.
   */
  async rollback(id: string, toVersion: number, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const target = check(version, toVersion, 'toVersion');
    return this.change(async (tx) => {
      await tx.lockDependencyGraph();
      const current = this.live(await tx.lock(segmentId), id);
      if (current.kind !== 'RULE') throw new BadUserInputError(`id: segment ${current.id} is STATIC and has no rule versions`, 'id');
      if (target === current.version) throw new BadUserInputError(`toVersion: ${target} is the current version of segment ${current.id}`, 'toVersion');
      const rule = await tx.ruleAt(current.id, target);
      if (rule === undefined) {
        throw new BadUserInputError(`toVersion: segment ${current.id} has versions 1 to ${current.version}, not ${target}`, 'toVersion');
      }
      const resolved = await resolveRule(rule, 'toVersion', tx, segmentId);
      if (JSON.stringify(resolved.rule) === JSON.stringify(current.rule)) {
        throw new BadUserInputError(`toVersion: version ${target} has the same rule as the current version ${current.version}`, 'toVersion');
      }
      const { segment, changedFields } = await tx.update(current, { rule: resolved.rule, dependsOn: resolved.dependsOn }, actor.subject, {
        restoredVersion: target,
      });
      return { result: segment, effects: definitionEffects(segment.id, changedFields) };
    });
  }

  async archive(id: string, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    return this.change(async (tx) => {
      await tx.lockDependencyGraph();
      const current = await tx.lock(segmentId);
      if (!current) throw this.unknown(id);
      if (current.status === 'ARCHIVED') return { result: current, effects: [] };
      const dependents = await tx.liveDependents(segmentId);
      if (dependents.length > 0) {
        throw new BadUserInputError(
          `id: segment ${segmentId} is used by the rules of segments ${dependents.join(', ')}; change those first`,
          'id',
        );
      }
      const segment = await tx.archive(current, actor.subject);
      const effects: SegmentEffectRequest[] = [{ segmentId, effect: 'announce-definition' }];
      if (segment.kind === 'RULE') effects.push({ segmentId, effect: 'sync-schedule' });
      return { result: segment, effects };
    });
  }

  async requestRecompute(id: string, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    return this.change(async (tx) => {
      const current = this.live(await tx.lock(segmentId), id);
      if (current.kind !== 'RULE') throw new BadUserInputError(`id: segment ${segmentId} is STATIC; only RULE segments are computed`, 'id');
      await tx.recordChange(segmentId, 'RECOMPUTE_REQUESTED', actor.subject, { version: current.version });
      return { result: current, effects: [{ segmentId, effect: 'recompute' }] };
    });
  }

  addMembers(id: string, ids: readonly string[], actor: Principal): Promise<SegmentRecord> {
    return this.changeMembers(id, ids, actor, 'add');
  }

  removeMembers(id: string, ids: readonly string[], actor: Principal): Promise<SegmentRecord> {
    return this.changeMembers(id, ids, actor, 'remove');
  }

  private async changeMembers(id: string, ids: readonly string[], actor: Principal, change: 'add' | 'remove'): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const wanted = [...new Set(check(customerIds, ids, 'customerIds'))];
    const since = new Date();
    return this.change(async (tx) => {
      const current = this.live(await tx.lock(segmentId), id);
      if (current.kind !== 'STATIC') {
        throw new BadUserInputError(`id: segment ${segmentId} is computed from its rule; only STATIC segments take members`, 'id');
      }
      const changed =
        change === 'add'
          ? await this.deps.memberships.add(segmentId, wanted.map((customerId) => ({ customerId, since })), tx.connection)
          : await this.deps.memberships.remove(segmentId, wanted, tx.connection);
      if (changed.length === 0) return { result: current, effects: [] };
      // Recorded with the change itself: the publisher carries it to Redis and the stream.
      await this.deps.memberships.recordEvents(segmentId, changed, change === 'add' ? 'ENTERED' : 'LEFT', {
        at: since,
        cause: 'manual',
        segmentVersion: current.version,
      }, tx.connection);
      // RULE segments reading this one through inSegment see the change as data changes of these customers.
      await this.deps.changeOutbox.recordSegmentInputChanges(tx.connection, changed, await tx.liveDependents(segmentId));
      const segment = await tx.addToSize(segmentId, change === 'add' ? changed.length : -changed.length);
      await tx.recordChange(segmentId, change === 'add' ? 'MEMBERS_ADDED' : 'MEMBERS_REMOVED', actor.subject, {
        version: current.version,
        customerCount: changed.length,
      });
      return { result: segment, effects: [{ segmentId, effect: 'announce-size' }] };
    });
  }

  /** Runs one change in a transaction together with its side effects, then lets this process's caches know. */
  private async change(work: (tx: SegmentRepository) => Promise<Outcome<SegmentRecord>>): Promise<SegmentRecord> {
    const { result, effects } = await this.deps.segments.transaction(async (tx) => {
      const outcome = await work(tx);
      await this.deps.outbox.record(tx.connection, outcome.effects);
      return outcome;
    });
    if (effects.length > 0) this.deps.committed?.([...new Set(effects.flatMap((e) => ('segmentId' in e ? [e.segmentId] : [])))]);
    return result;
  }

  private segmentId(id: string): number {
    const segmentId = parseSegmentId(id);
    if (segmentId === null) throw this.unknown(id);
    return segmentId;
  }

  private live(segment: SegmentRecord | null, id: string): SegmentRecord {
    if (!segment) throw this.unknown(id);
    if (segment.status === 'ARCHIVED') throw new BadUserInputError(`id: segment ${segment.id} is archived`, 'id');
    return segment;
  }

  private unknown(id: string): BadUserInputError {
    return new BadUserInputError(`id: there is no segment ${JSON.stringify(id)}`, 'id');
  }

  private async nameChecked<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof SegmentNameTakenError) {
        throw new BadUserInputError('input.name is already the name of another segment that is not archived', 'input.name');
      }
      throw error;
    }
  }
}

/** What a definition change asks for: caches drop it, its schedule follows its refresh period, a new rule is computed. */
function definitionEffects(segmentId: number, changedFields: readonly string[]): SegmentEffectRequest[] {
  if (changedFields.length === 0) return [];
  const effects: SegmentEffectRequest[] = [{ segmentId, effect: 'announce-definition' }];
  if (changedFields.includes('refreshEveryMinutes')) effects.push({ segmentId, effect: 'sync-schedule' });
  if (changedFields.includes('rule')) effects.push({ segmentId, effect: 'recompute' });
  return effects;
}

/** A create's input in canonical form: a retry with the same key must send the same segment. */
function requestHash(definition: { name: string; description: string | null; rule: unknown; refreshEveryMinutes: number | null }): string {
  return createHash('sha256')
    .update(JSON.stringify([definition.name, definition.description, definition.rule, definition.refreshEveryMinutes]))
    .digest('hex');
}
