import { createHash, createHmac } from 'node:crypto';
import type { Principal } from '../auth/token-verifier.js';
import type { CustomerErasureRepository, ErasureRecord } from '../stores/postgres/customer-erasure-repository.js';
import type { SegmentEffectRequest, SegmentOutboxRepository } from '../stores/postgres/segment-outbox-repository.js';
import { check, customerId as customerIdSchema } from './admin-input.js';

export interface CustomerErasureDependencies {
  erasures: Pick<CustomerErasureRepository, 'transaction' | 'erase'>;
  outbox: Pick<SegmentOutboxRepository, 'record'>;
  /**
   * Keys the hash the audit log keeps instead of the id (config
   * ERASURE_AUDIT_KEY): without it, anyone holding the log could test guessed
   * ids. Absent, the hash is a plain SHA-256.
   */
  auditKey?: string;
  /** Called after an erasure commits with the segments whose size changed (this process's caches). */
  committed?: (segmentIds: readonly number[]) => void;
}

/**
 * eraseCustomer: one transaction removes the customer's memberships (sizes
 * adjusted), membership history and pending changes, records the erasure
 * under a hash, and asks the workers (segment outbox) to delete the Redis
 * serving key and announce the new sizes. Erasing twice is harmless.
 */
export class CustomerErasure {
  constructor(private readonly deps: CustomerErasureDependencies) {}

  async erase(customerId: string, actor: Principal): Promise<ErasureRecord> {
    const id = check(customerIdSchema, customerId, 'customerId');
    const hash = this.hash(id);
    const { record, segmentIds } = await this.deps.erasures.transaction(async (client) => {
      const erased = await this.deps.erasures.erase(client, id, hash, actor.subject);
      const effects: SegmentEffectRequest[] = [
        { customerId: id, effect: 'erase-serving-key' },
        ...erased.segmentIds.map((segmentId) => ({ segmentId, effect: 'announce-size' as const })),
      ];
      await this.deps.outbox.record(client, effects);
      return erased;
    });
    if (segmentIds.length > 0) this.deps.committed?.(segmentIds);
    return record;
  }

  /** The audit log's name for a customer: `sha256:<hex>` or `hmac-sha256:<hex>`. */
  hash(customerId: string): string {
    return this.deps.auditKey
      ? `hmac-sha256:${createHmac('sha256', this.deps.auditKey).update(customerId).digest('hex')}`
      : `sha256:${createHash('sha256').update(customerId).digest('hex')}`;
  }
}
