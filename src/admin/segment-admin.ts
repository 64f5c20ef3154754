import type { Principal } from '../auth/token-verifier.js';
import { BadUserInputError } from '../errors.js';
import { parseSegmentId } from '../graphql/segment-id.js';
import { DEFAULT_REFRESH_EVERY_MINUTES, type RecomputeRequests } from '../jobs/recompute-queue.js';
import type { MembershipRepository } from '../stores/postgres/membership-repository.js';
import {
  SegmentNameTakenError,
  type SegmentPatch,
  type SegmentRecord,
  type SegmentRepository,
} from '../stores/postgres/segment-repository.js';
import type { SegmentChangeChannel } from '../stores/redis/segment-change-channel.js';
import { check, customerIds, refreshEveryMinutes, segmentDescription, segmentName } from './admin-input.js';
import { resolveRule } from './resolve-rule.js';

export interface SegmentAdminDependencies {
  segments: SegmentRepository;
  memberships: MembershipRepository;
  segmentChanges: SegmentChangeChannel;
  recompute: RecomputeRequests;
  /** Asks for pending membership events to reach the serving store and the stream. */
  requestPublish: () => Promise<void>;
}

export interface CreateSegmentInput {
  name: string;
  description?: string | null;
  rule?: unknown;
  refreshEveryMinutes?: number | null;
}

export interface UpdateSegmentInput {
  name?: string | null;
  description?: string | null;
  rule?: unknown;
  refreshEveryMinutes?: number | null;
}

/**
 * The admin use cases behind the mutations: validate, write Postgres in one
 * transaction (with history), then tell the rest of the system (segment
 * caches, the recompute queue, the serving store). Invalid input throws
 * BAD_USER_INPUT before anything is written.
 */
export class SegmentAdmin {
  constructor(private readonly deps: SegmentAdminDependencies) {}

  async create(input: CreateSegmentInput, actor: Principal): Promise<SegmentRecord> {
    const name = check(segmentName, input.name, 'input.name');
    const description = check(segmentDescription, input.description ?? null, 'input.description');
    const hasRule = input.rule !== undefined && input.rule !== null;
    if (!hasRule && input.refreshEveryMinutes != null) {
      throw new BadUserInputError('input.refreshEveryMinutes applies only to segments with a rule', 'input.refreshEveryMinutes');
    }
    const refresh = hasRule ? check(refreshEveryMinutes, input.refreshEveryMinutes ?? DEFAULT_REFRESH_EVERY_MINUTES, 'input.refreshEveryMinutes') : null;

    const segment = await this.deps.segments.transaction(async (tx) => {
      let resolved = null;
      if (hasRule) {
        await tx.lockDependencyGraph();
        resolved = await resolveRule(input.rule, 'input.rule', tx);
      }
      return this.nameChecked(() =>
        tx.create(
          { name, description, rule: resolved?.rule ?? null, refreshEveryMinutes: refresh, dependsOn: resolved?.dependsOn ?? [] },
          actor.subject,
        ),
      );
    });
    // Caches may remember this id as unknown, and workers must index the new rule.
    await this.deps.segmentChanges.publish([segment.id]);
    // The scheduler's first run is immediate: that is the recompute on creation.
    if (segment.kind === 'RULE') await this.deps.recompute.schedule(segment.id, segment.refreshEveryMinutes!);
    return segment;
  }

  async update(id: string, input: UpdateSegmentInput, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const patch: SegmentPatch = {};
    if (input.name !== undefined) patch.name = check(segmentName, input.name, 'input.name');
    if (input.description !== undefined) patch.description = check(segmentDescription, input.description, 'input.description');
    if (input.refreshEveryMinutes !== undefined) patch.refreshEveryMinutes = check(refreshEveryMinutes, input.refreshEveryMinutes, 'input.refreshEveryMinutes');
    if (input.rule === null) throw new BadUserInputError('input.rule cannot be removed; archive the segment instead', 'input.rule');

    const { segment, changedFields } = await this.deps.segments.transaction(async (tx) => {
      if (input.rule !== undefined) await tx.lockDependencyGraph();
      const current = this.live(await tx.lock(segmentId), id);
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
      return this.nameChecked(() => tx.update(current, patch, actor.subject));
    });
    if (changedFields.length > 0) await this.deps.segmentChanges.publish([segment.id]);
    if (changedFields.includes('refreshEveryMinutes')) await this.deps.recompute.schedule(segment.id, segment.refreshEveryMinutes!);
    if (changedFields.includes('rule')) await this.deps.recompute.request(segment.id);
    return segment;
  }

  async archive(id: string, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const segment = await this.deps.segments.transaction(async (tx) => {
      await tx.lockDependencyGraph();
      const current = await tx.lock(segmentId);
      if (!current) throw this.unknown(id);
      if (current.status === 'ARCHIVED') return current;
      const dependents = await tx.liveDependents(segmentId);
      if (dependents.length > 0) {
        throw new BadUserInputError(
          `id: segment ${segmentId} is used by the rules of segments ${dependents.join(', ')}; change those first`,
          'id',
        );
      }
      return tx.archive(current, actor.subject);
    });
    await this.deps.segmentChanges.publish([segment.id]);
    if (segment.kind === 'RULE') await this.deps.recompute.unschedule(segment.id);
    return segment;
  }

  async requestRecompute(id: string, actor: Principal): Promise<SegmentRecord> {
    const segmentId = this.segmentId(id);
    const segment = await this.deps.segments.transaction(async (tx) => {
      const current = this.live(await tx.lock(segmentId), id);
      if (current.kind !== 'RULE') throw new BadUserInputError(`id: segment ${segmentId} is STATIC; only RULE segments are computed`, 'id');
      await tx.recordChange(segmentId, 'RECOMPUTE_REQUESTED', actor.subject, { version: current.version });
      return current;
    });
    await this.deps.recompute.request(segment.id);
    return segment;
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
    const { segment, changed } = await this.deps.segments.transaction(async (tx) => {
      const current = this.live(await tx.lock(segmentId), id);
      if (current.kind !== 'STATIC') {
        throw new BadUserInputError(`id: segment ${segmentId} is computed from its rule; only STATIC segments take members`, 'id');
      }
      const changed =
        change === 'add'
          ? await this.deps.memberships.add(segmentId, wanted.map((customerId) => ({ customerId, since })), tx.connection)
          : await this.deps.memberships.remove(segmentId, wanted, tx.connection);
      if (changed.length === 0) return { segment: current, changed };
      // Recorded with the change itself: the publisher carries it to Redis and the stream.
      await this.deps.memberships.recordEvents(segmentId, changed, change === 'add' ? 'ENTERED' : 'LEFT', {
        at: since,
        cause: 'manual',
        segmentVersion: current.version,
      }, tx.connection);
      const segment = await tx.addToSize(segmentId, change === 'add' ? changed.length : -changed.length);
      await tx.recordChange(segmentId, change === 'add' ? 'MEMBERS_ADDED' : 'MEMBERS_REMOVED', actor.subject, {
        version: current.version,
        customerCount: changed.length,
      });
      return { segment, changed };
    });
    if (changed.length > 0) {
      await this.deps.requestPublish();
      await this.deps.segmentChanges.publish([segmentId], 'size');
    }
    return segment;
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
