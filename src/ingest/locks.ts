/**
 * Transaction-scoped advisory locks that serialise concurrent events about the same entities.
 * A key is `Entity:key:value` (store.ts refKey), locked per tenant.
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

export type LockFn = (keys: readonly string[]) => Promise<void>;

/**
 * The one sorted call of the rule above, as a statement (or a subquery: one row per key): waits
 * for `keys` (tenant-qualified, sorted, see `TransactionLocks.pending`) in the order given.
 */
export function waitForLocksSql(keys: readonly string[]): Prisma.Sql {
  return Prisma.sql`SELECT pg_advisory_xact_lock(hashtextextended(t."k", 0))::text AS "v" FROM unnest(${keys}::text[]) WITH ORDINALITY AS t("k", "n") ORDER BY t."n"`;
}

export class TransactionLocks {
  private readonly held = new Set<string>();

  constructor(
    private readonly tx: SqlTx,
    private readonly tenantId: string,
  ) {}

  /**
   * Waits for every key not held yet, in sorted order, in one statement — sent with the
   * transaction's next statement (SqlTx.send), which Postgres runs once the locks are held.
   */
  readonly acquire: LockFn = async (keys) => {
    const wanted = this.pending(keys);
    if (!wanted.length) return;
    this.tx.send(waitForLocksSql(wanted));
    this.taken(wanted);
  };

  /** Takes every key not held yet without waiting; throws LockBusyError if one is taken. */
  readonly tryAcquire: LockFn = async (keys) => {
    const wanted = this.pending(keys);
    if (!wanted.length) return;
    const [row] = await this.tx.query<{ busy: number }>(
      'SELECT count(*) FILTER (WHERE NOT pg_try_advisory_xact_lock(hashtextextended(k, 0)))::int AS busy FROM unnest($1::text[]) AS t(k)',
      [wanted],
    );
    if (row?.busy) throw new LockBusyError(`${row.busy} of ${wanted.length} entity locks are held by another transaction`);
    this.taken(wanted);
  };

  /**
   * The keys not held yet, tenant-qualified and sorted: what `acquire` waits for, and what a
   * caller taking the locks inside another statement (the pipeline's claim, through
   * `waitForLocksSql`) passes it. Such a caller reports them with `taken` once it has run.
   */
  pending(keys: readonly string[]): string[] {
    return [...new Set(keys.map((k) => `${this.tenantId}|${k}`))].filter((k) => !this.held.has(k)).sort();
  }

  /** Whether every one of `keys` is held (or sent to be taken, as `acquire` does). */
  holds(keys: readonly string[]): boolean {
    return keys.every((k) => this.held.has(`${this.tenantId}|${k}`));
  }

  taken(wanted: readonly string[]): void {
    for (const key of wanted) this.held.add(key);
  }
}
