import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { setImmediate } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextTurn } from '../../src/http/turns.js';

describe('nextTurn', () => {
  // A Unix socket: a write is readable by the peer when write() returns (TCP loopback may hand delivery to a softirq).
  const dir = mkdtempSync(join(tmpdir(), 'turns-'));
  let server: ReturnType<typeof createServer>;
  let client: Socket;
  let peer: Socket;

  beforeAll(async () => {
    server = createServer();
    server.listen(join(dir, 'socket'));
    await once(server, 'listening');
    const accepted = once(server, 'connection');
    client = connect(join(dir, 'socket'));
    await once(client, 'connect');
    [peer] = (await accepted) as [Socket];
  });
  afterAll(async () => {
    client.destroy();
    peer.destroy();
    server.close();
    await once(server, 'close');
    rmSync(dir, { recursive: true, force: true });
  });

  it('releases waiters in order, a turn at a time', async () => {
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => nextTurn().then(() => order.push(n)));
    await waiters[0];
    // However many microtasks run, the second waits for a turn of its own.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(order).toEqual([1]);
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });

  it('lets I/O that became ready meanwhile run before the next waiter (a Postgres answer before the next parse)', async () => {
    const order: string[] = [];
    peer.once('data', () => order.push('socket data'));
    const first = nextTurn().then(() => {
      order.push('first');
      client.write('x');
    });
    const second = nextTurn().then(() => order.push('second'));
    await Promise.all([first, second]);
    // Released together (one setImmediate each, or all in one), both would run before the poll phase that reads the socket.
    expect(order).toEqual(['first', 'socket data', 'second']);
  });

  it('a backlog drains an eighth per turn, so a busy thread still lets webhooks through', async () => {
    const released: number[] = [];
    let turn = 0;
    const waiters = Array.from({ length: 64 }, () => nextTurn().then(() => released.push(turn)));
    const ticking = (async () => {
      while (released.length < 64) {
        await setImmediate();
        turn++;
      }
    })();
    await Promise.all([...waiters, ticking]);
    const perTurn = [...new Set(released)].map((t) => released.filter((r) => r === t).length);
    // 64, 56, 49, 42 … waiting: an eighth, rounded up, per turn; the last 8 one by one.
    expect(perTurn).toEqual([8, 7, 7, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
  });
});
