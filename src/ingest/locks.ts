/**
 * Transaction-scoped advisory locks that serialise concurrent events about the same entities.
 * A key is `Entity:key:value` (store.ts refKey), locked per tenant: exclusively by an event about
 * the entity, shared by an event about a child of it (store.ts entityLocksOf), so children of
 * one parent (a class's enrolments) do not wait for each other, only for the parent's own events
 * (which must not store the parent while a child, not seeing it, parks awaiting it).
 *
 * Deadlock freedom rests on one rule: a transaction takes every lock it may block on in ONE
 * sorted call (`acquire`), before it holds any other. The pipeline therefore looks up the parked
 * events its record will release and locks their keys in that same call; a lock needed later
 * (a parked event that appeared after the lookup, or a merge's extra keys) is only tried
 * (`tryAcquire`): when another transaction holds it, this one rolls back (LockBusyError,
 * retried by the pipeline) instead of waiting while holding locks — the wait that deadlocked.
 */
import type { SqlTx } from '../db/sql.js';
import { Prisma } from '../generated/prisma/client.js';

/** A lock another transaction holds was needed after this one already held locks: retry the transaction. */
export class LockBusyError extends Error {
  override name = 'LockBusyError';
}

/** An entity lock a record needs: `shared` for a parent it refers to. */
export interface EntityLock {
  key: string;
  shared: boolean;
}

export type LockFn = (locks: readonly EntityLock[]) => Promise<void>;

/**
 * The one sorted call of the rule above, as a statement (or a subquery: one row per key): waits
 * for `locks` (tenant-qualified, sorted, see `TransactionLocks.pending`) in the order given.
 */
export function waitForLocksSql(locks: readonly EntityLock[]): Prisma.Sql {
  return Prisma.sql`SELECT (CASE WHEN t."s" THEN pg_advisory_xact_lock_shared(hashtextextended(t."k", 0)) ELSE pg_advisory_xact_lock(hashtextextended(t."k", 0)) END)::text AS "v"
    FROM unnest(${locks.map((l) => l.key)}::text[], ${locks.map((l) => l.shared)}::boolean[]) WITH ORDINALITY AS t("k", "s", "n") ORDER BY t."n"`;
}

export class TransactionLocks {
  /** Tenant-qualified key → held shared only. */
  private readonly held = new Map<string, boolean>();

  constructor(
    private readonly tx: SqlTx,
    private readonly tenantId: string,
  ) {}

  /** Waits for every key not held yet, in sorted order, in one statement. */
  readonly acquire: LockFn = async (locks) => {
    const wanted = this.pending(locks);
    if (!wanted.length) return;
    await this.tx.query(waitForLocksSql(wanted));
    this.taken(wanted);
  };

  /** Takes every key not held yet without waiting; throws LockBusyError if one is taken. */
  readonly tryAcquire: LockFn = async (locks) => {
    const wanted = this.pending(locks);
    if (!wanted.length) return;
    const [row] = await this.tx.query<{ busy: number }>(
      `SELECT count(*) FILTER (WHERE NOT (CASE WHEN s THEN pg_try_advisory_xact_lock_shared(hashtextextended(k, 0)) ELSE pg_try_advisory_xact_lock(hashtextextended(k, 0)) END))::int AS busy
         FROM unnest($1::text[], $2::boolean[]) AS t(k, s)`,
      [wanted.map((l) => l.key), wanted.map((l) => l.shared)],
    );
    if (row?.busy) throw new LockBusyError(`${row.busy} of ${wanted.length} entity locks are held by another transaction`);
    this.taken(wanted);
  };

  /**
   * The keys not held yet, tenant-qualified and sorted: what `acquire` waits for, and what a
   * caller taking the locks inside another statement (the pipeline's claim, through
   * `waitForLocksSql`) passes it. Such a caller reports them with `taken` once it has run.
   */
  pending(locks: readonly EntityLock[]): EntityLock[] {
    // One lock per key, exclusive if any wants it so; none for one held in a mode that covers it.
    const wanted = new Map<string, boolean>();
    for (const { key, shared } of locks) {
      const k = `${this.tenantId}|${key}`;
      wanted.set(k, (wanted.get(k) ?? true) && shared);
    }
    return [...wanted]
      .filter(([k, shared]) => !(this.held.has(k) && (shared || !this.held.get(k))))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, shared]) => ({ key, shared }));
  }

  taken(wanted: readonly EntityLock[]): void {
    for (const { key, shared } of wanted) this.held.set(key, (this.held.get(key) ?? true) && shared);
  }
}
