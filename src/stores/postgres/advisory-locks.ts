/**
 * Every Postgres advisory lock the service takes, and who holds it, in which
 * mode and for how long. This is the concurrency protocol in one place; the
 * callers cite these names. docs/pipeline.md "Locks" adds the row locks.
 *
 * | lock                          | holder                                  | mode                   | held for                                 |
 * |-------------------------------|-----------------------------------------|------------------------|------------------------------------------|
 * | MIGRATIONS          7316001   | each process that migrates, at start    | exclusive, session     | while it applies migrations              |
 * | DEPENDENCY_GRAPH    7316002   | admin changes of `inSegment` edges      | exclusive, transaction | the admin change                         |
 * | SERVING_STORE       7316003   | the publisher; the serving-store rebuild| exclusive, session     | while it publishes or rebuilds           |
 * | EVALUATION          7316004   | event batches                           | shared, transaction    | one batch                                |
 * |                               | a recompute taking its snapshot         | exclusive, session     | the moment the snapshot is taken         |
 * |                               | a recompute applying a range            | exclusive, transaction | one apply range                          |
 * |                               | customer erasure                        | exclusive, transaction | the erasure                              |
 * | (PARTITION_CLASS 7316005, p)  | the evaluator process owning partition p| exclusive, session     | while it evaluates that partition        |
 *
 * Where two are held together they are taken in one order: an evaluator
 * takes EVALUATION (per batch) while it holds its partitions, a recompute
 * locks `segments` rows while it holds EVALUATION, and the event path takes
 * no `segments` row at all, so no two holders wait on each other in a cycle.
 * The keys are arbitrary constants: they only have to be the same in every
 * process of a deployment, and distinct from other users of the database.
 */
export const ADVISORY_LOCKS = {
  /** Serialises processes that start together, so each migration runs once. */
  MIGRATIONS: 7_316_001,
  /**
   * Serialises changes to the `inSegment` graph, so two concurrent rule
   * changes cannot each pass the cycle check and together make a cycle.
   */
  DEPENDENCY_GRAPH: 7_316_002,
  /**
   * Held by whoever writes serving keys from Postgres state (the event
   * publisher, the full rebuild), so two writers never interleave a stale
   * read with a newer write.
   */
  SERVING_STORE: 7_316_003,
  /**
   * Held shared by every event evaluation, and exclusively by a full
   * recompute for two moments: while it takes its snapshot (so that every
   * evaluation either committed before it or is journaled after it) and while
   * it applies its result (so that every overlapping evaluation is committed
   * and journaled). Erasure takes it exclusively so that no batch in flight
   * writes the erased customer back. Evaluations never wait on each other.
   */
  EVALUATION: 7_316_004,
  /**
   * The class of the partition locks, `pg_advisory_lock(7316005, partition)`:
   * each evaluator process holds some of the change outbox's partitions on
   * its evaluation connection, for as long as it evaluates them, so each
   * customer's changes are evaluated by one process at a time, in order.
   */
  PARTITION_CLASS: 7_316_005,
} as const;
