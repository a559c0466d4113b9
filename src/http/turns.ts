/**
 * One webhook's CPU work at a time per event-loop turn, behind the I/O that turn brought.
 *
 * A webhook's verification and parsing (≈ 0.1–0.2 ms) is work that can wait; the ingest
 * transaction's next statement cannot: Postgres idles until the main thread reads its answer and
 * sends what follows. In one poll phase Node runs every ready socket's callback in the order the
 * kernel reports them, so a Postgres answer ready behind sixteen new webhooks waited for all
 * sixteen to be verified and parsed. `nextTurn` resolves one waiter per setImmediate (the check
 * phase), and each waiter's continuation runs before the loop polls again: a Postgres answer
 * waits for at most one webhook's parse.
 */
const waiting: (() => void)[] = [];

function releaseOne() {
  waiting.shift()?.();
  if (waiting.length) setImmediate(releaseOne);
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    if (waiting.push(resolve) === 1) setImmediate(releaseOne);
  });
}
