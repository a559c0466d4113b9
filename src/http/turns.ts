/**
 * A webhook's CPU work in a later turn of the event loop, behind the I/O that turn brought.
 *
 * A webhook's signature check and JSON parse (≈ 0.1–0.2 ms) can wait; the ingest transaction's
 * next statement cannot: Postgres idles until the main thread reads its answer and sends what
 * follows. In one poll phase Node runs every ready socket's callback in the order the kernel
 * reports them, so a Postgres answer ready behind sixteen new webhooks waited for all sixteen.
 * `nextTurn` releases waiters in the check phase (setImmediate), a few per turn, and their
 * continuations run before the loop polls again: a Postgres answer waits for a few parses at most.
 *
 * A few, not one: a turn also holds whatever else the main thread does (GraphQL requests,
 * subscriptions), and with one per turn a busy thread would let webhooks through at tens per
 * second. An eighth of those waiting (rounded up) drains any backlog in a bounded number of turns.
 */
const waiting: (() => void)[] = [];

function release() {
  for (const resolve of waiting.splice(0, Math.ceil(waiting.length / 8))) resolve();
  if (waiting.length) setImmediate(release);
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    if (waiting.push(resolve) === 1) setImmediate(release);
  });
}
