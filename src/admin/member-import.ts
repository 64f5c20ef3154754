import type { Principal } from '../auth/token-verifier.js';
import { parseSegmentId } from '../domain/segment-id.js';
import { BadUserInputError } from '../platform/errors.js';
import type { SegmentEffectRequest, SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import type { SegmentRecord, SegmentRepository } from '../stores/postgres/segment-repository.js';
import type { StaticMemberImportRepository } from '../stores/postgres/static-member-import-repository.js';
import { ADMIN_LIMITS } from './admin-input.js';
import { customerIdLines } from './customer-id-lines.js';

export interface MemberImportDependencies {
  segments: Pick<SegmentRepository, 'findByIds' | 'transaction'>;
  imports: Pick<StaticMemberImportRepository, 'stage' | 'replaceWithStaged' | 'refreshStatistics'>;
  /**
   * What the import asks of the rest of the system, written in its own
   * transaction: caches drop the segment's size, and the RULE segments that
   * read it through inSegment are recomputed. The membership events are the
   * serving store's outbox already.
   */
  outbox: Pick<SegmentOutboxRepository, 'record'>;
  /** Called after an import commits, so that this process's caches drop the segment at once. */
  committed?: (segmentIds: readonly number[]) => void;
}

/** The answer of an import: the segment's size after it, and how many customers it moved. */
export interface MemberImportResult {
  size: number;
  entered: number;
  left: number;
}

/**
 * Replaces a STATIC segment's members with a list of customer ids (the
 * output of an ML model), all at once: the list is streamed into Postgres and
 * compared there, and the new set replaces the old in one transaction, so a
 * reader of Postgres sees one or the other. Only the difference becomes
 * membership events (cause `import`). A bad list changes nothing.
 */
export class MemberImport {
  constructor(private readonly deps: MemberImportDependencies) {}

  /**
   * Checks the segment before reading the list, so that a list sent to the
   * wrong segment is refused at once; the list is then read as it arrives.
   */
  async replace(id: string, body: AsyncIterable<Buffer>, actor: Principal): Promise<MemberImportResult> {
    const segmentId = parseSegmentId(id);
    if (segmentId === null) throw unknown(id);
    importable((await this.deps.segments.findByIds([segmentId]))[0], id);
    const at = new Date();
    const result = await this.deps.segments.transaction(async (tx) => {
      // Staged before the segment is locked: the upload may take a while, the lock must not.
      await this.deps.imports.stage(tx.connection, customerIdLines(body, ADMIN_LIMITS.maxCustomerIdLength));
      // Archived or changed while the list was read? Checked again under the lock.
      const current = importable(await tx.lock(segmentId), id);
      const { entered, left } = await this.deps.imports.replaceWithStaged(tx.connection, segmentId, {
        at,
        cause: 'import',
        segmentVersion: current.version,
      });
      const segment = entered + left === 0 ? current : await tx.addToSize(segmentId, entered - left);
      await tx.recordChange(segmentId, 'MEMBERS_IMPORTED', actor.subject, { version: current.version, customerCount: entered + left });
      if (entered + left > 0) {
        // An import moves up to millions of customers: the segments reading this one are recomputed in
        // full (one scan each), not customer by customer as after addSegmentMembers.
        const effects: SegmentEffectRequest[] = [
          { segmentId, effect: 'announce-size' },
          ...(await tx.liveDependents(segmentId)).map((dependent) => ({ segmentId: dependent, effect: 'recompute' as const })),
        ];
        await this.deps.outbox.record(tx.connection, effects);
      }
      return { size: segment.size, entered, left };
    });
    if (result.entered + result.left > 0) {
      this.deps.committed?.([segmentId]);
      await this.deps.imports.refreshStatistics(result.entered + result.left);
    }
    return result;
  }
}

function importable(segment: SegmentRecord | null | undefined, id: string): SegmentRecord {
  if (!segment) throw unknown(id);
  if (segment.status === 'ARCHIVED') throw new BadUserInputError(`id: segment ${segment.id} is archived`, 'id');
  if (segment.kind !== 'STATIC') {
    throw new BadUserInputError(`id: segment ${segment.id} is computed from its rule; only STATIC segments take members`, 'id');
  }
  return segment;
}

function unknown(id: string): BadUserInputError {
  return new BadUserInputError(`id: there is no segment ${JSON.stringify(id)}`, 'id');
}
